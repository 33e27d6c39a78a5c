/**
 * API tokens: `berth_<id>_<secret>`, where `<id>` (`tok_` + 16 hex) names the token in lists, logs
 * and the audit trail, and `<secret>` is 32 random bytes (base64url). Only the sha256 of the whole
 * token is stored; a presented token is checked by comparing hashes in constant time, so neither
 * the store nor a timing side channel gives the secret away.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"

export const tokenPrefix = "berth_"

/** The id of the bootstrap admin token (BERTH_ADMIN_TOKEN or `<dataDir>/admin-token`). */
export const adminTokenId = "admin"

const tokenPattern = /^berth_(tok_[0-9a-f]{16})_([A-Za-z0-9_-]{32,})$/

export interface ParsedToken {
  readonly id: string
  readonly token: string
}

/** The id a store token carries, or undefined when `token` is not one (e.g. the admin token). */
export const parseToken = (token: string): ParsedToken | undefined => {
  const match = tokenPattern.exec(token)
  return match?.[1] === undefined ? undefined : { id: match[1], token }
}

export const newTokenId = (): string => `tok_${randomBytes(8).toString("hex")}`

/** A new token for `id` (shown to its owner once, never stored). */
export const newToken = (id: string = newTokenId()): ParsedToken => ({ id, token: `${tokenPrefix}${id}_${randomBytes(32).toString("base64url")}` })

/** A generated bootstrap admin token (not in the store's format: it is checked against the setting). */
export const newAdminToken = (): string => `${tokenPrefix}admin_${randomBytes(32).toString("base64url")}`

/** Lower-case hex sha256 of the token: what the store keeps. */
export const hashToken = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex")

/** Whether `token` hashes to `hash`, compared in constant time. */
export const verifyToken = (token: string, hash: string): boolean => {
  const expected = Buffer.from(hash, "hex")
  const actual = Buffer.from(hashToken(token), "hex")
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
