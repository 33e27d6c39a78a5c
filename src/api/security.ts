/**
 * Bearer-token security for the status API: the `Authentication` middleware (HttpApiSecurity.bearer)
 * on every group but health resolves the token into the `CurrentCaller` (src/auth/authenticate.ts) or
 * answers 401; handlers then ask `authorize` / `authorizeRole` whether that caller may do what the
 * request asks in the workspace it touches, and answer 403 when not (scope.ts decides).
 */
import { HttpApiMiddleware, HttpApiSecurity, OpenApi } from "@effect/platform"
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { makeAuthenticator } from "../auth/authenticate.js"
import { type Caller, decide, decideGrant, decideRole, type Decision, type Role } from "../auth/scope.js"
import { TokenStore } from "../auth/TokenStore.js"
import { Forbidden, ServiceUnavailable, ServiceUnavailableProblem, Unauthorized, UnauthorizedProblem } from "./problems.js"

export class CurrentCaller extends Context.Tag("berth/CurrentCaller")<CurrentCaller, Caller>() {}

const bearer = HttpApiSecurity.bearer.pipe(
  HttpApiSecurity.annotate(
    OpenApi.Description,
    "An API token: `Authorization: Bearer <token>`. The admin token is BERTH_ADMIN_TOKEN or .berth/admin-token; " +
      "others are made with POST /v1/tokens (berth token create)."
  )
)

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("berth/Authentication", {
  failure: Schema.Union(UnauthorizedProblem, ServiceUnavailableProblem),
  provides: CurrentCaller,
  security: { bearer }
}) {}

export const AuthenticationLive = (adminToken: Redacted.Redacted<string>): Layer.Layer<Authentication, never, TokenStore> =>
  Layer.effect(
    Authentication,
    Effect.map(TokenStore, (store) => {
      const authenticate = makeAuthenticator(adminToken, store)
      return {
        bearer: (token) => {
          const presented = Redacted.value(token).trim()
          if (presented === "") {
            return Effect.fail(new Unauthorized({ detail: "an API token is required: send Authorization: Bearer <token>" }))
          }
          return authenticate(presented).pipe(
            Effect.tapError((error) => Effect.logWarning("token store unavailable", error.message)),
            Effect.mapError(() => new ServiceUnavailable({ detail: "tokens cannot be checked right now (NATS does not answer); try again shortly" })),
            Effect.flatMap(Option.match({
              onNone: () => Effect.fail(new Unauthorized({ detail: "the API token is invalid, expired or revoked" })),
              onSome: Effect.succeed
            }))
          )
        }
      }
    })
  )

const enforce = (decision: Decision): Effect.Effect<void, Forbidden> =>
  decision.allowed ? Effect.void : Effect.fail(new Forbidden({ detail: decision.reason }))

/** The caller holds at least `role` (403 otherwise). */
export const authorizeRole = (role: Role): Effect.Effect<Caller, Forbidden, CurrentCaller> =>
  Effect.tap(CurrentCaller, (caller) => enforce(decideRole(caller, role)))

/** The caller holds at least `role` in `workspace` (403 otherwise). */
export const authorize = (role: Role, workspace: string): Effect.Effect<Caller, Forbidden, CurrentCaller> =>
  Effect.tap(CurrentCaller, (caller) => enforce(decide(caller, role, workspace)))

/** The caller may create or revoke a token for `workspace` (null: all workspaces). */
export const authorizeGrant = (workspace: string | null): Effect.Effect<Caller, Forbidden, CurrentCaller> =>
  Effect.tap(CurrentCaller, (caller) => enforce(decideGrant(caller, workspace)))
