/**
 * Which secret krane-local demands: KRANE_LOCAL_SECRET when set, else one generated once into an
 * owner-only file (`<Berth data dir>/krane-local.secret`) and read back on every later start, so
 * Berth (which sends it as KRANE_TOKEN) and krane-local agree without anyone typing it.
 * KRANE_LOCAL_INSECURE=1 turns authentication off, for explicit local development only.
 */
import { join } from "node:path"
import { Config, type ConfigError, Effect, Option, Redacted } from "effect"
import { readOrCreateSecretFile, type SecretFileError } from "../../../local/secretFile.js"

/** Where the generated secret lives, beside krane-local's own data dir. */
export const kraneLocalSecretFile = (berthDataDir: string): string => join(berthDataDir, "krane-local.secret")

const MIN_SECRET_LENGTH = 16

const settings = Config.all({
  secret: Config.option(
    Config.redacted("KRANE_LOCAL_SECRET").pipe(
      Config.validate({
        message: `KRANE_LOCAL_SECRET must be at least ${MIN_SECRET_LENGTH} characters`,
        validation: (secret) => Redacted.value(secret).trim().length >= MIN_SECRET_LENGTH
      })
    )
  ),
  insecure: Config.boolean("KRANE_LOCAL_INSECURE").pipe(Config.withDefault(false))
})

export interface KraneLocalSecret {
  readonly value: Redacted.Redacted<string>
  /** Where it came from, for messages: "KRANE_LOCAL_SECRET" or the file's path. */
  readonly source: string
}

/** The secret krane-local requires; null when KRANE_LOCAL_INSECURE=1 switched authentication off. */
export const kraneLocalSecret = (secretFile: string): Effect.Effect<KraneLocalSecret | null, ConfigError.ConfigError | SecretFileError> =>
  Effect.gen(function* () {
    const { secret, insecure } = yield* settings
    if (insecure) return null
    if (Option.isSome(secret)) return { value: Redacted.make(Redacted.value(secret.value).trim()), source: "KRANE_LOCAL_SECRET" }
    return { value: Redacted.make(yield* readOrCreateSecretFile(secretFile)), source: secretFile }
  })
