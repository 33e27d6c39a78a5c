/**
 * API security for tests: a known admin token and the settings an in-process ApiServer gets, plus the
 * header that carries a token.
 */
import { Redacted } from "effect"
import type { AuthSettings } from "../../src/auth/settings.js"

/** The admin token of in-process test APIs (as if BERTH_ADMIN_TOKEN held it). */
export const testAdminToken = "berth_admin_integration-test-admin-token-0000"

/** The actor key of test APIs; give it to a test orchestrator (ActorKey) so it trusts their actor headers. */
export const testActorKey = "integration-test-actor-key"

export const testSecurity = (overrides: Partial<Omit<AuthSettings, "adminToken">> & { readonly adminToken?: string } = {}): AuthSettings => ({
  adminToken: Redacted.make(overrides.adminToken ?? testAdminToken),
  allowedOrigins: overrides.allowedOrigins ?? [],
  allowedHosts: overrides.allowedHosts ?? ["127.0.0.1", "localhost", "::1"],
  actorKey: Redacted.make(testActorKey)
})

/** `{ authorization: "Bearer <token>" }` (the test admin token by default). */
export const bearer = (token: string = testAdminToken): { readonly authorization: string } => ({ authorization: `Bearer ${token}` })
