/**
 * The secrets keyring and the cipher: AES-256-GCM from node:crypto, one 32-byte key per key id.
 * A keyring's first key is current (it seals); every key opens what it sealed, so a rotated-out key is
 * kept for as long as deployments sealed under it may be (re)created.
 *
 * Keys are written `kid:base64key`, several separated by commas or newlines, current first: the form of
 * BERTH_SECRETS_KEY and of the local keys file (`<dataDir>/secrets.keys`, one per line).
 *
 * Fingerprints are HMAC-SHA-256 under a key derived from the secrets key (never the bare SHA-256 of a
 * value), so a short value cannot be found by hashing guesses.
 *
 * A value is sealed for one project: its id is authenticated with the ciphertext (GCM additional data),
 * so a sealed value copied into another project's Deploy does not open there (no tenant can have
 * another's secret handed to its app).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto"
import { Either } from "effect"
import {
  fingerprintChars,
  formatSealed,
  isKeyId,
  ivBytes,
  looksSealed,
  parseSealed,
  tagBytes
} from "../domain/secrets.js"

export interface SecretKey {
  readonly kid: string
  /** 32 bytes: the AES-256-GCM key. */
  readonly key: Buffer
  /** Derived from `key`: the HMAC key of fingerprints. */
  readonly fingerprintKey: Buffer
}

export interface Keyring {
  readonly current: SecretKey
  readonly byId: ReadonlyMap<string, SecretKey>
}

export const keyBytes = 32

const toKey = (kid: string, key: Buffer): SecretKey => ({
  kid,
  key,
  fingerprintKey: createHmac("sha256", key).update("berth secrets fingerprint v1").digest()
})

/** Standard or URL-safe base64, padded or not. */
const decodeBase64 = (text: string): Buffer | undefined =>
  /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64") : undefined

/** Parses `kid:base64key[,kid:base64key…]` (commas or newlines; blank lines and `#` comments skipped). */
export const parseKeyring = (text: string): Either.Either<Keyring, string> => {
  const entries = text
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "" && !entry.startsWith("#"))
  const keys: Array<SecretKey> = []
  for (const [index, entry] of entries.entries()) {
    const at = entry.indexOf(":")
    const kid = at < 0 ? "" : entry.slice(0, at)
    // Entries are named by position only: an error message never echoes key material.
    if (!isKeyId(kid)) return Either.left(`key ${index + 1}: expected <kid>:<base64 key> with a key id of letters, digits, _ or - (at most 32)`)
    const key = decodeBase64(entry.slice(at + 1))
    if (key === undefined || key.length !== keyBytes) {
      return Either.left(`key ${index + 1} (${kid}): the key must be ${keyBytes} bytes in base64 (e.g. openssl rand -base64 32)`)
    }
    if (keys.some((existing) => existing.kid === kid)) return Either.left(`key ${index + 1}: key id ${kid} appears twice`)
    keys.push(toKey(kid, key))
  }
  const [current] = keys
  if (current === undefined) return Either.left("no key given (expected <kid>:<base64 key>)")
  return Either.right({ current, byId: new Map(keys.map((key) => [key.kid, key])) })
}

/** A new key line `kid:base64url`, with a kid not yet in `existing`: k1, k2, … */
export const newKeyLine = (existing: ReadonlyArray<string> = []): string => {
  const numbers = existing.map((kid) => /^k(\d+)$/.exec(kid)?.[1]).filter((n) => n !== undefined).map(Number)
  let next = Math.max(0, existing.length, ...numbers) + 1
  while (existing.includes(`k${next}`)) next++
  return `k${next}:${randomBytes(keyBytes).toString("base64url")}`
}

export const fingerprint = (key: SecretKey, cleartext: string): string =>
  createHmac("sha256", key.fingerprintKey).update(cleartext, "utf8").digest("hex").slice(0, fingerprintChars)

/** What the ciphertext authenticates besides itself: the key id, the fingerprint and the project. */
const additionalData = (kid: string, fingerprint: string, projectId: string): Buffer => Buffer.from(`${kid}:${fingerprint}:${projectId}`)

/** Seals one value for `projectId` under the keyring's current key (a fresh random iv each time). */
export const sealWith = (keyring: Keyring, projectId: string, cleartext: string): string => {
  const { current } = keyring
  const iv = randomBytes(ivBytes)
  const cipher = createCipheriv("aes-256-gcm", current.key, iv)
  // The kid, fingerprint and project are authenticated too: none can be swapped onto another ciphertext.
  cipher.setAAD(additionalData(current.kid, fingerprint(current, cleartext), projectId))
  const ciphertext = Buffer.concat([cipher.update(cleartext, "utf8"), cipher.final()])
  const payload = Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString("base64url")
  return formatSealed({ kid: current.kid, fingerprint: fingerprint(current, cleartext), payload })
}

/** Why a sealed value does not open: never containing the value or a key. */
export type OpenProblem = { readonly _tag: "NotSealed" } | { readonly _tag: "Malformed" } | { readonly _tag: "UnknownKey"; readonly kid: string } | {
  readonly _tag: "Tampered"
  readonly kid: string
}

export const describeOpenProblem = (problem: OpenProblem): string => {
  switch (problem._tag) {
    case "NotSealed":
      return "not a sealed value"
    case "Malformed":
      return "starts with sealed:v1: but is not a well-formed sealed value"
    case "UnknownKey":
      return `sealed with key id ${problem.kid}, which this Berth does not hold (BERTH_SECRETS_KEY or the secrets.keys file)`
    case "Tampered":
      return `does not open with key ${problem.kid} (sealed for another project, damaged, or sealed by another key with the same id)`
  }
}

/** Opens a value sealed for `projectId`. */
export const openWith = (keyring: Keyring, projectId: string, value: string): Either.Either<string, OpenProblem> => {
  const sealed = parseSealed(value)
  if (sealed === undefined) return Either.left(looksSealed(value) ? { _tag: "Malformed" } : { _tag: "NotSealed" })
  const key = keyring.byId.get(sealed.kid)
  if (key === undefined) return Either.left({ _tag: "UnknownKey", kid: sealed.kid })
  const bytes = Buffer.from(sealed.payload, "base64url")
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.key, bytes.subarray(0, ivBytes))
    decipher.setAAD(additionalData(sealed.kid, sealed.fingerprint, projectId))
    decipher.setAuthTag(bytes.subarray(bytes.length - tagBytes))
    const cleartext = Buffer.concat([decipher.update(bytes.subarray(ivBytes, bytes.length - tagBytes)), decipher.final()]).toString("utf8")
    return Either.right(cleartext)
  } catch {
    return Either.left({ _tag: "Tampered", kid: sealed.kid })
  }
}
