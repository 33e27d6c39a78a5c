/**
 * The local keys file, `<dataDir>/secrets.keys`: one `kid:base64key` per line, current first, owner-only
 * (0600). Generated with one key on first use; `berth secrets rotate` puts a new key first and keeps the
 * older ones, which still open the values sealed under them (deployments already recorded).
 */
import { renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Either } from "effect"
import { readOrCreateSecretFile } from "../local/secretFile.js"
import { type Keyring, newKeyLine, parseKeyring } from "./keyring.js"
import { SecretsKeyError } from "./SecretsKeyError.js"

export const keysFileName = "secrets.keys"
export const keysFilePath = (dataDir: string): string => join(dataDir, keysFileName)

export const parseFrom = (source: string) => (text: string): Effect.Effect<Keyring, SecretsKeyError> =>
  Either.match(parseKeyring(text), {
    onLeft: (reason) => Effect.fail(new SecretsKeyError({ source, reason })),
    onRight: Effect.succeed
  })

/** The keys file's keyring, generating the file (one new key) when it does not exist. */
export const readKeysFile = (path: string): Effect.Effect<Keyring, SecretsKeyError> =>
  readOrCreateSecretFile(path, () => newKeyLine()).pipe(
    Effect.mapError((error) => new SecretsKeyError({ source: path, reason: error.reason })),
    Effect.flatMap(parseFrom(path))
  )

/**
 * Puts a new current key first in the keys file (creating the file when absent), keeping every older
 * key. Written to a temporary file and renamed, so a reader never sees half a file. Answers the new
 * key id and the ids kept.
 */
export const rotateKeysFile = (path: string): Effect.Effect<{ readonly current: string; readonly kept: ReadonlyArray<string> }, SecretsKeyError> =>
  Effect.gen(function* () {
    const text = yield* readOrCreateSecretFile(path, () => newKeyLine()).pipe(
      Effect.mapError((error) => new SecretsKeyError({ source: path, reason: error.reason }))
    )
    const keyring = yield* parseFrom(path)(text)
    const kept = [...keyring.byId.keys()]
    const line = newKeyLine(kept)
    const temporary = `${path}.${process.pid}.tmp`
    yield* Effect.try({
      try: () => {
        writeFileSync(temporary, `${line}\n${text.trim()}\n`, { mode: 0o600, flag: "wx" })
        renameSync(temporary, path)
      },
      catch: (error) => new SecretsKeyError({ source: path, reason: `could not write: ${error instanceof Error ? error.message : String(error)}` })
    })
    return { current: line.slice(0, line.indexOf(":")), kept }
  })
