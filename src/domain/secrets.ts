/**
 * Sealed env values: the text format only (parse, build, display, size). Encryption itself is the
 * Secrets service's (src/secrets/), which owns the keys; this module never sees a key or a cleartext.
 *
 *     sealed:v1:<kid>:<fp>:<payload>
 *
 * - kid: the id of the key that sealed the value ([A-Za-z0-9_-], at most 32), so keys can rotate: a
 *   value sealed under an older key still opens while that key is kept.
 * - fp: 12 hex digits of a keyed fingerprint (HMAC-SHA-256 of the cleartext under a key derived from
 *   the secrets key): it tells two values apart without letting anyone test guesses of a short value.
 * - payload: base64url of iv (12 bytes) | ciphertext | GCM tag (16 bytes); ciphertext is as long as
 *   the cleartext's UTF-8, so the cleartext's size is known without opening it (limits.ts counts it).
 *
 * Everything that shows an env (CLI, API, logs) shows `sealed(<fp>)`, never the value.
 */

export const sealedPrefix = "sealed:v1:"
export const ivBytes = 12
export const tagBytes = 16
export const fingerprintChars = 12

const kidPattern = /^[A-Za-z0-9_-]{1,32}$/
const fingerprintPattern = /^[0-9a-f]{12}$/
const payloadPattern = /^[A-Za-z0-9_-]+$/

export interface SealedValue {
  readonly kid: string
  readonly fingerprint: string
  /** base64url of iv | ciphertext | tag. */
  readonly payload: string
}

export const isKeyId = (kid: string): boolean => kidPattern.test(kid)

/** Bytes a base64url text (no padding) decodes to. */
const decodedBytes = (base64url: string): number => Math.floor((base64url.length * 3) / 4)

/** The sealed value's parts, or undefined when `value` is not one (a cleartext, or a damaged value). */
export const parseSealed = (value: string): SealedValue | undefined => {
  if (!value.startsWith(sealedPrefix)) return undefined
  const [kid, fingerprint, payload, ...rest] = value.slice(sealedPrefix.length).split(":")
  if (kid === undefined || fingerprint === undefined || payload === undefined || rest.length > 0) return undefined
  if (!kidPattern.test(kid) || !fingerprintPattern.test(fingerprint) || !payloadPattern.test(payload)) return undefined
  // A payload too short to hold an iv and a tag (an empty cleartext still has both) is not a sealed value.
  if (payload.length % 4 === 1 || decodedBytes(payload) < ivBytes + tagBytes) return undefined
  return { kid, fingerprint, payload }
}

/** Looks like a sealed value (starts with the prefix): one that does not parse is refused, not taken as cleartext. */
export const looksSealed = (value: string): boolean => value.startsWith(sealedPrefix)

export const formatSealed = (sealed: SealedValue): string => `${sealedPrefix}${sealed.kid}:${sealed.fingerprint}:${sealed.payload}`

/** UTF-8 bytes of the cleartext inside a sealed value (GCM does not pad). */
export const sealedCleartextBytes = (sealed: SealedValue): number => decodedBytes(sealed.payload) - ivBytes - tagBytes

const displayed = /^sealed\([0-9a-f]{12}\)$/

/**
 * How a value is shown anywhere outside the Krane create request: `sealed(<fp>)`; a value that is not
 * sealed (written to the log before sealing existed, or damaged) is shown as `redacted`. Idempotent:
 * a value already shown stays as it is.
 */
export const displayValue = (value: string): string => {
  if (displayed.test(value) || value === "redacted") return value
  const sealed = parseSealed(value)
  return sealed === undefined ? "redacted" : `sealed(${sealed.fingerprint})`
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * An event (or any JSON object) as it may be shown: an `env` field's values in display form. For
 * payloads read back from storage, whose shape is not checked (a non-string value shows as redacted).
 */
export const displayPayload = (payload: unknown): unknown => {
  if (!isRecord(payload) || !("env" in payload)) return payload
  const env = payload["env"]
  return {
    ...payload,
    env: isRecord(env) ? Object.fromEntries(Object.entries(env).map(([key, value]) => [key, typeof value === "string" ? displayValue(value) : "redacted"])) : "redacted"
  }
}

/** The env with every value replaced by its display form: keys stay readable. */
export const displayEnv = (env: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(env).map(([key, value]) => [key, displayValue(value)]))

/** Any text with every sealed value in it shown as `sealed(<fp>)` (a raw message kept for an audit). */
export const displaySealedIn = (text: string): string =>
  text.replace(/sealed:v1:[A-Za-z0-9_-]{1,32}:([0-9a-f]{12}):[A-Za-z0-9_-]+/g, (_whole, fp: string) => `sealed(${fp})`)
