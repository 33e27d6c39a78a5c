/**
 * Secrets: seals Deploy env values before Berth stores them anywhere, and opens them for the one place
 * that needs the cleartext (the Krane create request, StepRunner.kraneCreate). Nothing else opens a
 * value; everything that shows an env shows `sealed(<fingerprint>)` (src/domain/secrets.ts).
 *
 * Keys: BERTH_SECRETS_KEY (`kid:base64key[,kid:base64key…]`, current first), else the local keys file
 * `<dataDir>/secrets.keys`, generated on first use (0600) and extended by `berth secrets rotate`.
 * The keys file is re-read when it changes (checked with one stat per seal or open), so a rotation
 * takes effect in running roles at once; a value sealed under a key id this process does not hold also
 * makes it re-read the file once before refusing the value.
 */
import { statSync } from "node:fs"
import { Config, ConfigError, Context, Data, Effect, Either, Layer, Option, Redacted } from "effect"
import { looksSealed, parseSealed } from "../domain/secrets.js"
import { describeOpenProblem, type Keyring, openWith, sealWith } from "./keyring.js"
import { keysFilePath, parseFrom, readKeysFile } from "./keysFile.js"
import { SecretsKeyError } from "./SecretsKeyError.js"

/** A value that cannot be sealed or opened: names the env key (when known), never the value. */
export class SecretsError extends Data.TaggedError("SecretsError")<{ readonly key?: string; readonly reason: string }> {
  override get message(): string {
    return this.key === undefined ? this.reason : `env.${this.key}: ${this.reason}`
  }
}

export type Env = Readonly<Record<string, string>>

export interface SecretsService {
  /** The id of the key new values are sealed under. */
  readonly currentKeyId: Effect.Effect<string>
  /** A value sealed for `projectId`: it opens for that project only. */
  readonly seal: (projectId: string, cleartext: string) => Effect.Effect<string>
  /**
   * Every cleartext value sealed for `projectId`; a sealed value kept as it is once it is known to open
   * for that project (so the API's values pass the intake unchanged, and a value under an unknown key
   * or sealed for another project is refused at the door rather than when its deployment is created).
   */
  readonly sealEnv: (projectId: string, env: Env) => Effect.Effect<Record<string, string>, SecretsError>
  /** The cleartext of a value sealed for `projectId`. */
  readonly open: (projectId: string, sealed: string) => Effect.Effect<string, SecretsError>
  /**
   * The env for the Krane create request: sealed values opened; a value that is not sealed is passed
   * as it is (logged before sealing existed), and a value that looks sealed but does not open fails.
   */
  readonly openEnv: (projectId: string, env: Env) => Effect.Effect<Record<string, string>, SecretsError>
}

export { SecretsKeyError }

export class Secrets extends Context.Tag("berth/Secrets")<Secrets, SecretsService>() {}

/** Keys that can change while Berth runs (the keys file, which `berth secrets rotate` rewrites). */
export interface KeySource {
  readonly reload: Effect.Effect<Keyring, SecretsKeyError>
  /** Whether the keys may have changed since the last reload (cheap: a stat). */
  readonly changed: () => boolean
}

/** A Secrets service over a keyring, re-read from `source` (when there is one) once it changes. */
export const makeSecrets = (initial: Keyring, source: KeySource | undefined): SecretsService => {
  let keyring = initial
  const reload = (source: KeySource) =>
    source.reload.pipe(
      Effect.tap((fresh) => Effect.sync(() => void (keyring = fresh))),
      Effect.tap((fresh) => Effect.logInfo("secrets keys re-read").pipe(Effect.annotateLogs({ current: fresh.current.kid }))),
      Effect.catchAll((error) => Effect.as(Effect.logWarning("could not re-read the secrets keys", error.message), keyring))
    )
  /** The current keyring: re-read first when the file changed (a rotation takes effect at once). */
  const current = Effect.suspend(() => (source !== undefined && source.changed() ? reload(source) : Effect.succeed(keyring)))
  /** The keyring that holds `value`'s key id, re-reading the file once for an unknown one. */
  const keyringFor = (value: string): Effect.Effect<Keyring> =>
    Effect.flatMap(current, (ring) => {
      const sealed = parseSealed(value)
      return sealed === undefined || ring.byId.has(sealed.kid) || source === undefined ? Effect.succeed(ring) : reload(source)
    })
  const open = (projectId: string, value: string, key?: string) =>
    Effect.flatMap(keyringFor(value), (ring) =>
      Either.match(openWith(ring, projectId, value), {
        onLeft: (problem) => Effect.fail(new SecretsError({ ...(key === undefined ? {} : { key }), reason: describeOpenProblem(problem) })),
        onRight: Effect.succeed
      })
    )
  const seal = (projectId: string, cleartext: string) => Effect.map(current, (ring) => sealWith(ring, projectId, cleartext))
  return {
    currentKeyId: Effect.map(current, (ring) => ring.current.kid),
    seal,
    open: (projectId, value) => open(projectId, value),
    sealEnv: (projectId, env) =>
      Effect.forEach(Object.entries(env), ([key, value]) =>
        looksSealed(value)
          ? Effect.as(open(projectId, value, key), [key, value] as const)
          : Effect.map(seal(projectId, value), (sealed) => [key, sealed] as const)
      ).pipe(Effect.map(Object.fromEntries)),
    openEnv: (projectId, env) =>
      Effect.forEach(Object.entries(env), ([key, value]) =>
        looksSealed(value) ? Effect.map(open(projectId, value, key), (cleartext) => [key, cleartext] as const) : Effect.succeed([key, value] as const)
      ).pipe(Effect.map(Object.fromEntries))
  }
}

/** Keys given as text (BERTH_SECRETS_KEY's form): tests and callers that hold the key themselves. */
export const secretsFromKeys = (keys: string): Effect.Effect<SecretsService, SecretsKeyError> =>
  Effect.map(parseFrom("BERTH_SECRETS_KEY")(keys), (keyring) => makeSecrets(keyring, undefined))

export const secretsSettings = Config.all({
  // Set but empty counts as unset (the keys file), as an empty variable does everywhere else.
  key: Config.option(Config.redacted("BERTH_SECRETS_KEY")).pipe(Config.map(Option.filter((key) => Redacted.value(key).trim() !== ""))),
  dataDir: Config.string("BERTH_DATA_DIR").pipe(Config.withDefault(".berth"))
})

/** BERTH_SECRETS_KEY when set, else the keys file under `dataDir`. */
export const loadSecrets = (settings: { readonly key: Option.Option<Redacted.Redacted>; readonly dataDir: string }) =>
  Option.match(settings.key, {
    onSome: (key) => secretsFromKeys(Redacted.value(key)),
    onNone: () => {
      const path = keysFilePath(settings.dataDir)
      // The file's identity and time: a rotation writes a new file and renames it over the old one.
      let readAt = ""
      const modified = () => {
        try {
          const stat = statSync(path)
          return `${stat.ino}:${stat.mtimeMs}:${stat.size}`
        } catch {
          return readAt
        }
      }
      const read = Effect.suspend(() => {
        readAt = modified()
        return readKeysFile(path)
      })
      return Effect.map(read, (keyring) => makeSecrets(keyring, { reload: read, changed: () => modified() !== readAt }))
    }
  })

export const SecretsLive = {
  /**
   * From the environment (BERTH_SECRETS_KEY, BERTH_DATA_DIR): what the role processes use. Unusable keys
   * are a configuration error, so a role stops with one line instead of being restarted in a loop.
   */
  fromConfig: Layer.effect(
    Secrets,
    Effect.flatMap(secretsSettings, loadSecrets).pipe(
      Effect.mapError((error) => (ConfigError.isConfigError(error) ? error : ConfigError.InvalidData(["BERTH_SECRETS_KEY"], error.message)))
    )
  ),
  /** From given keys text: tests. */
  fromKeys: (keys: string) => Layer.effect(Secrets, secretsFromKeys(keys))
}
