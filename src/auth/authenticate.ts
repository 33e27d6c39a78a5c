/**
 * Turning a bearer token into a Caller. The bootstrap admin token (BERTH_ADMIN_TOKEN or the data
 * dir's admin-token file) is compared by hash in constant time and reaches every workspace as
 * `admin` (actor id `admin`); any other token must be a live entry of the TokenStore. The status
 * API's HttpApiMiddleware (src/api/security.ts) calls this on every request but the health probes
 * and the OpenAPI document.
 */
import { Effect, Option, Redacted } from "effect"
import type { Caller } from "./scope.js"
import type { TokenStoreError, TokenStoreService } from "./TokenStore.js"
import { adminTokenId, hashToken, verifyToken } from "./token.js"

export const adminCaller: Caller = { tokenId: adminTokenId, workspace: null, role: "admin" }

export type Authenticator = (token: string) => Effect.Effect<Option.Option<Caller>, TokenStoreError>

export const makeAuthenticator = (adminToken: Redacted.Redacted<string>, store: TokenStoreService): Authenticator => {
  const adminHash = hashToken(Redacted.value(adminToken))
  return (token) => {
    if (token === "") return Effect.succeed(Option.none())
    return verifyToken(token, adminHash) ? Effect.succeed(Option.some(adminCaller)) : store.authenticate(token)
  }
}
