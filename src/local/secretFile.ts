/**
 * Credentials Berth generates for its local setup (admin token, NATS passwords, krane-local secret,
 * PostgreSQL password, secrets keys) live in files under the data dir, readable by their owner only.
 * The first start writes one; every later start reads the same one back, so a restart changes nothing.
 */
import { randomBytes } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { Data, Effect } from "effect"

export class SecretFileError extends Data.TaggedError("SecretFileError")<{ readonly path: string; readonly reason: string }> {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

/** 32 random bytes as URL-safe base64 (43 characters): a password, token or key. */
export const randomSecret = (bytes = 32): string => randomBytes(bytes).toString("base64url")

/**
 * The file's content (trimmed), written first with `generate()` when it does not exist. The file and
 * any directory it creates are owner-only (0600 / 0700); an existing file readable by others is
 * tightened to 0600 rather than trusted as it is.
 */
export const readOrCreateSecretFile = (
  path: string,
  generate: () => string = () => randomSecret()
): Effect.Effect<string, SecretFileError> =>
  Effect.try({
    try: () => {
      if (!existsSync(path)) {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
        // "wx": two processes starting at once never overwrite each other's secret.
        try {
          writeFileSync(path, `${generate()}\n`, { mode: 0o600, flag: "wx" })
        } catch (error) {
          if (!(error instanceof Error && "code" in error && error.code === "EEXIST")) throw error
        }
      }
      if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600)
      const text = readFileSync(path, "utf8").trim()
      if (text === "") throw new Error("is empty; delete it and start again to generate a new one")
      return text
    },
    catch: (error) => new SecretFileError({ path, reason: error instanceof Error ? error.message : String(error) })
  })
