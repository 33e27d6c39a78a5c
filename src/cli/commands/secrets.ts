/**
 * `berth secrets seal` and `berth secrets rotate`: local key handling, without the API. Both use the
 * keys Berth uses: BERTH_SECRETS_KEY when set, else `<BERTH_DATA_DIR or .berth>/secrets.keys` (which
 * `npm start` creates). A value to seal is read from stdin, never from the command line (shell history,
 * `ps`), and only the sealed form is printed.
 */
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import { Effect, Either, Option, Redacted, Schema } from "effect"
import { ProjectId } from "../../domain/ids.js"
import { CliError, defineCommand, exitCodes } from "../command.js"
import { keysFilePath, rotateKeysFile } from "../../secrets/keysFile.js"
import { loadSecrets } from "../../secrets/Secrets.js"
import { displayValue } from "../../domain/secrets.js"

const dataDir = (): string => resolve(process.env["BERTH_DATA_DIR"] ?? ".berth")
const envKey = (): string | undefined => {
  const key = process.env["BERTH_SECRETS_KEY"]
  return key === undefined || key === "" ? undefined : key
}

/** The keys file, which must exist: a CLI never invents keys Berth does not have. */
const existingKeysFile = (): string => {
  const path = keysFilePath(dataDir())
  if (!existsSync(path)) {
    throw new CliError(`no secrets keys at ${path}: start Berth once (npm start) to create them, set BERTH_DATA_DIR, or set BERTH_SECRETS_KEY`)
  }
  return path
}

const orCliError = async <A, E extends { message: string }>(effect: Effect.Effect<A, E>): Promise<A> => {
  const result = await Effect.runPromise(Effect.either(effect))
  if (Either.isLeft(result)) throw new CliError(result.left.message)
  return result.right
}

export const secretsSeal = defineCommand({
  name: "secrets seal",
  summary: "seal an env value read from stdin, for publishers that send raw commands",
  usage: "<projectId>",
  description: [
    "Reads one value from stdin (a single trailing newline is dropped) and prints it sealed for the",
    "project (sealed:v1:<kid>:<fingerprint>:<ciphertext>), ready for that project's Deploy env in a raw",
    "NATS command. It opens for that project only: another project's Deploy carrying it is rejected.",
    "Uses BERTH_SECRETS_KEY, else the keys file <BERTH_DATA_DIR>/secrets.keys (default .berth)."
  ],
  positionals: { min: 1, max: 1 },
  options: {},
  examples: ["printf %s \"$DB_PASSWORD\" | berth secrets seal proj_shop"],
  run: async ({ positionals }, context) => {
    const projectId = positionals[0] ?? ""
    if (!Schema.is(ProjectId)(projectId)) throw new CliError(`not a project id: ${JSON.stringify(projectId)} (letters, digits, _ and -)`)
    const key = envKey()
    const secrets = await orCliError(
      loadSecrets({ key: key === undefined ? Option.none() : Option.some(Redacted.make(key)), dataDir: key === undefined ? resolve(existingKeysFile(), "..") : dataDir() })
    )
    if (process.stdin.isTTY) context.err("type the value, then press Ctrl-D")
    const value = readFileSync(0, "utf8").replace(/\r?\n$/, "")
    const sealed = await Effect.runPromise(secrets.seal(projectId, value))
    context.out(sealed)
    context.err(`sealed for ${projectId} (${displayValue(sealed)}, key ${await Effect.runPromise(secrets.currentKeyId)})`)
    return exitCodes.ok
  }
})

export const secretsRotate = defineCommand({
  name: "secrets rotate",
  summary: "make a new secrets key current, keeping the old ones for existing deployments",
  usage: "",
  description: [
    "Puts a new key first in <BERTH_DATA_DIR>/secrets.keys. Older keys stay: values sealed under them",
    "(every deployment already recorded) still open when their deployment is created again. Running",
    "roles notice the new file at their next seal or open and use the new key at once.",
    "With BERTH_SECRETS_KEY set, rotate by putting a new <kid>:<base64 key> first in it (old keys after it)",
    "and restarting the orchestrator, then the API."
  ],
  positionals: { min: 0, max: 0 },
  options: {},
  examples: ["berth secrets rotate"],
  run: async (_args, context) => {
    if (envKey() !== undefined) {
      throw new CliError("BERTH_SECRETS_KEY is set: put a new <kid>:<base64 key> first in it (keep the old keys after it) and restart the orchestrator, then the API")
    }
    const rotated = await orCliError(rotateKeysFile(existingKeysFile()))
    context.out(`secrets key ${rotated.current} is now current; kept for opening existing values: ${rotated.kept.join(", ")}`)
    context.out("Running roles seal with it from their next deployment on; nothing needs a restart.")
    return exitCodes.ok
  }
})
