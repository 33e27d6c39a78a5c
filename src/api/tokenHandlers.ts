/**
 * Handlers of the token endpoints: every one needs the admin role, and a workspace-scoped admin sees
 * and manages only its workspace's tokens (scope.ts decideGrant). The created token is in the 201
 * answer only; the store keeps its hash.
 */
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Either, Option } from "effect"
import { parseExpiry } from "../auth/expiry.js"
import { type TokenInfo, TokenStore } from "../auth/TokenStore.js"
import { BerthApi } from "./BerthApi.js"
import { NotFound, ServiceUnavailable } from "./problems.js"
import { authorizeGrant, authorizeRole } from "./security.js"
import type { TokenView } from "./tokenViews.js"

const view = (token: TokenInfo): TokenView => ({
  tokenId: token.id,
  workspace: token.workspace,
  role: token.role,
  createdBy: token.createdBy,
  createdAt: new Date(token.createdAt),
  expiresAt: token.expiresAt === null ? null : new Date(token.expiresAt),
  ...(token.description === undefined ? {} : { description: token.description })
})

const unavailable = <A, R>(self: Effect.Effect<A, { readonly message: string }, R>) =>
  self.pipe(
    Effect.tapError((error) => Effect.logWarning("token store unavailable", error.message)),
    Effect.mapError(() => new ServiceUnavailable({ detail: "the token store is unavailable (NATS does not answer); try again shortly" }))
  )

export const TokensLive = HttpApiBuilder.group(BerthApi, "tokens", (handlers) =>
  Effect.map(TokenStore, (store) =>
    handlers
      .handle("createToken", ({ payload }) =>
        Effect.gen(function*() {
          const caller = yield* authorizeGrant(payload.workspace)
          // The schema validated expiresIn already; parse it again for its value.
          const expiresInMs = payload.expiresIn === undefined ? undefined : Either.getOrUndefined(parseExpiry(payload.expiresIn))
          const { token, info } = yield* unavailable(store.create({
            workspace: payload.workspace,
            role: payload.role,
            createdBy: caller.tokenId,
            ...(expiresInMs === undefined ? {} : { expiresInMs }),
            ...(payload.description === undefined ? {} : { description: payload.description })
          }))
          yield* Effect.logInfo("token created").pipe(
            Effect.annotateLogs({ tokenId: info.id, workspace: info.workspace ?? "*", role: info.role, by: caller.tokenId })
          )
          return { ...view(info), token }
        }))
      .handle("listTokens", () =>
        Effect.gen(function*() {
          const caller = yield* authorizeRole("admin")
          const tokens = yield* unavailable(store.list)
          return { tokens: tokens.filter((token) => caller.workspace === null || token.workspace === caller.workspace).map(view) }
        }))
      .handle("revokeToken", ({ path }) =>
        Effect.gen(function*() {
          const caller = yield* authorizeRole("admin")
          const found = yield* unavailable(store.get(path.tokenId))
          // Another workspace's token is as unknown as a missing one: its id tells a scoped admin nothing.
          const token = Option.filter(found, (t) => caller.workspace === null || t.workspace === caller.workspace)
          if (Option.isNone(token)) return yield* new NotFound({ detail: `token not found: ${path.tokenId}` })
          yield* authorizeGrant(token.value.workspace)
          yield* unavailable(store.revoke(path.tokenId))
          yield* Effect.logInfo("token revoked").pipe(Effect.annotateLogs({ tokenId: path.tokenId, by: caller.tokenId }))
        }))
  )
)
