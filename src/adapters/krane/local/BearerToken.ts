/**
 * krane-local's one credential: the caller must send `Authorization: Bearer <secret>`. Compared in
 * constant time (both sides hashed first, so neither the secret's length nor its bytes leak through
 * timing). Knows nothing of HTTP routing; ConnectJson asks it about each request.
 */
import { createHash, timingSafeEqual } from "node:crypto"

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/** A check of a request's Authorization header against `secret`. */
export const bearerTokenCheck = (secret: string): ((authorization: string | undefined) => boolean) => {
  const expected = digest(secret)
  return (authorization) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "")
    const presented = match?.[1]
    // Still one comparison when the header is missing or malformed, so every refusal takes as long.
    return timingSafeEqual(digest(presented ?? ""), expected) && presented !== undefined
  }
}
