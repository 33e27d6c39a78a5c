/**
 * The pure parts of API security as tables: the token format and its hash check, lifetimes, the
 * role/workspace decisions, and the request screening (Host, Origin, content type) that runs before
 * any handler.
 */
import { Effect, Either, Option, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { signActor, verifiedActor } from "../../src/auth/actor.js"
import { adminCaller, makeAuthenticator } from "../../src/auth/authenticate.js"
import { parseExpiry } from "../../src/auth/expiry.js"
import { type Caller, decide, decideGrant, decideRole, type Role } from "../../src/auth/scope.js"
import { defaultAllowedHosts } from "../../src/auth/settings.js"
import type { TokenStoreService } from "../../src/auth/TokenStore.js"
import { hashToken, newAdminToken, newToken, parseToken, verifyToken } from "../../src/auth/token.js"
import { hostnameOf, screen } from "../../src/api/hygiene.js"

describe("tokens", () => {
  const { id, token } = newToken()

  it("look like berth_<id>_<secret> and carry their id", () => {
    expect(token).toMatch(/^berth_tok_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    expect(parseToken(token)).toEqual({ id, token })
    expect(newToken().id).not.toBe(id)
  })

  it.each([
    ["", "empty"],
    ["berth_tok_0123456789abcdef", "no secret"],
    ["berth_tok_0123456789abcde_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "id too short"],
    ["berth_tok_0123456789ABCDEF_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "id not lower-case hex"],
    ["berth_tok_0123456789abcdef_short", "secret too short"],
    ["Bearer berth_tok_0123456789abcdef_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "with a scheme"],
    [newAdminToken(), "the admin token (checked against the setting, not the store)"]
  ])("%s is no store token (%s)", (text) => {
    expect(parseToken(text)).toBeUndefined()
  })

  it("verify against their sha256 only", () => {
    const hash = hashToken(token)
    expect(hash).toMatch(/^[0-9a-f]{64}$/)
    expect(hash).not.toContain(token.slice(-43))
    expect(verifyToken(token, hash)).toBe(true)
    expect(verifyToken(`${token}x`, hash)).toBe(false)
    expect(verifyToken(token.slice(0, -1), hash)).toBe(false)
    expect(verifyToken(token, "")).toBe(false)
  })
})

describe("expiry", () => {
  it.each([
    ["30d", 30 * 86_400_000],
    ["12h", 12 * 3_600_000],
    ["90m", 90 * 60_000],
    ["2w", 14 * 86_400_000],
    [" 1d ", 86_400_000]
  ])("%s is %d ms", (text, ms) => {
    expect(parseExpiry(text)).toEqual(Either.right(ms))
  })

  it.each(["", "0d", "-1d", "30", "d", "1.5h", "30 days", "1y", "3651d"])("%j is refused", (text) => {
    expect(Either.isLeft(parseExpiry(text))).toBe(true)
  })
})

describe("access decisions", () => {
  const caller = (role: Role, workspace: string | null): Caller => ({ tokenId: "tok_x", workspace, role })

  it.each([
    // role held, role needed, allowed
    ["read", "read", true],
    ["read", "deploy", false],
    ["read", "admin", false],
    ["deploy", "read", true],
    ["deploy", "deploy", true],
    ["deploy", "admin", false],
    ["admin", "read", true],
    ["admin", "deploy", true],
    ["admin", "admin", true]
  ] as const)("a %s token for %s: %s", (held, needed, allowed) => {
    expect(decideRole(caller(held, "acme"), needed).allowed).toBe(allowed)
  })

  it.each([
    // token workspace, project workspace, role held, role needed, allowed
    ["acme", "acme", "deploy", "deploy", true],
    ["acme", "globex", "deploy", "read", false],
    ["acme", "globex", "admin", "deploy", false],
    [null, "globex", "read", "read", true],
    [null, "globex", "read", "deploy", false],
    [null, "acme", "deploy", "deploy", true]
  ] as const)("token of %s on a %s project, holding %s, needing %s: %s", (scope, workspace, held, needed, allowed) => {
    expect(decide(caller(held, scope), needed, workspace).allowed).toBe(allowed)
  })

  it("says why a request is refused", () => {
    expect(decide(caller("deploy", "acme"), "read", "globex")).toEqual({
      allowed: false,
      reason: "token tok_x is scoped to workspace acme, not globex"
    })
    expect(decide(caller("read", "acme"), "deploy", "acme")).toEqual({ allowed: false, reason: "token tok_x has role read; this needs deploy" })
  })

  it.each([
    // granting token, workspace of the new token, allowed
    [caller("admin", null), "acme", true],
    [caller("admin", null), null, true],
    [caller("admin", "acme"), "acme", true],
    [caller("admin", "acme"), "globex", false],
    [caller("admin", "acme"), null, false],
    [caller("deploy", null), "acme", false]
  ] as const)("%j may grant %s: %s", (granter, workspace, allowed) => {
    expect(decideGrant(granter, workspace).allowed).toBe(allowed)
  })
})

describe("authentication", () => {
  const admin = newAdminToken()
  const stored: Caller = { tokenId: "tok_0123456789abcdef", workspace: "acme", role: "deploy" }
  const store: TokenStoreService = {
    authenticate: (token) => Effect.succeed(token === "berth_tok_ok" ? Option.some(stored) : Option.none()),
    create: () => Effect.die("unused"),
    list: Effect.die("unused"),
    get: () => Effect.die("unused"),
    revoke: () => Effect.die("unused")
  }
  const authenticate = makeAuthenticator(Redacted.make(admin), store)

  it.each([
    [admin, Option.some(adminCaller)],
    ["berth_tok_ok", Option.some(stored)],
    [`${admin} `, Option.none()],
    ["", Option.none()],
    ["berth_tok_unknown", Option.none()]
  ])("%s authenticates as %j", (token, expected) => {
    expect(Effect.runSync(authenticate(token))).toEqual(expected)
  })
})

describe("request screening", () => {
  const settings = { allowedOrigins: ["https://console.example.com"], allowedHosts: ["127.0.0.1", "localhost", "::1"] }
  const json = { host: "127.0.0.1:8787", "content-type": "application/json", "content-length": "2" }

  it.each([
    ["127.0.0.1:8787", "127.0.0.1"],
    ["LOCALHOST", "localhost"],
    ["[::1]:8787", "::1"],
    ["::1", "::1"]
  ])("the host of %s is %s", (host, name) => {
    expect(hostnameOf(host)).toBe(name)
  })

  it.each([
    ["a JSON POST", "POST", json, undefined],
    ["a GET without body", "GET", { host: "localhost:8787" }, undefined],
    ["a POST without body", "POST", { host: "127.0.0.1:8787", "content-length": "0" }, undefined],
    ["a DELETE without body", "DELETE", { host: "127.0.0.1" }, undefined],
    ["JSON with a charset", "POST", { ...json, "content-type": "application/json; charset=utf-8" }, undefined],
    ["an allowed origin", "POST", { ...json, origin: "https://console.example.com" }, undefined],
    ["the API's own origin (its /docs)", "POST", { ...json, origin: "http://127.0.0.1:8787" }, undefined],
    ["a text/plain POST", "POST", { ...json, "content-type": "text/plain" }, 415],
    ["a form POST", "POST", { ...json, "content-type": "application/x-www-form-urlencoded" }, 415],
    ["a body without content type", "POST", { host: "127.0.0.1", "content-length": "10" }, 415],
    ["a chunked body without content type", "POST", { host: "127.0.0.1", "transfer-encoding": "chunked" }, 415],
    ["a foreign origin", "POST", { ...json, origin: "https://evil.example" }, 403],
    ["a foreign origin on a GET", "GET", { host: "127.0.0.1:8787", origin: "https://evil.example" }, 403],
    ["origin null", "GET", { host: "127.0.0.1:8787", origin: "null" }, 403],
    ["the same host on another port", "POST", { ...json, origin: "http://127.0.0.1:9999" }, 403],
    ["a rebinding host", "GET", { host: "evil.example:8787" }, 421],
    ["no host", "GET", {}, 421],
    ["a rebinding host with a foreign origin and text/plain", "POST", { host: "evil.example", origin: "http://evil.example", "content-type": "text/plain" }, 421]
  ] as const)("%s: %s", (_what, method, headers, status) => {
    expect(screen(method, headers, settings)?.status).toBe(status)
  })

  it("serves the listen host and the loopback names by default", () => {
    expect(defaultAllowedHosts("10.1.2.3")).toEqual(["localhost", "127.0.0.1", "::1", "10.1.2.3"])
    expect(defaultAllowedHosts("0.0.0.0")).toEqual(expect.arrayContaining(["localhost", "127.0.0.1"]))
    expect(defaultAllowedHosts("0.0.0.0")).not.toContain("evil.example")
  })
})

describe("actor signatures", () => {
  const key = Redacted.make("actor-key")
  const payload = JSON.stringify({ type: "Deploy", projectId: "proj_a", commandId: "cmd_1" })
  const signature = signActor(key, "tok_0123456789abcdef", payload)

  it.each([
    ["the signed actor is recorded", Option.some(key), "tok_0123456789abcdef", signature, payload, "tok_0123456789abcdef"],
    ["no claim is nats", Option.some(key), undefined, undefined, payload, "nats"],
    ["a claim without signature", Option.some(key), "admin", undefined, payload, "nats"],
    ["another actor with this signature", Option.some(key), "admin", signature, payload, "nats"],
    ["the signature on other bytes", Option.some(key), "tok_0123456789abcdef", signature, `${payload} `, "nats"],
    ["another key", Option.some(Redacted.make("other")), "tok_0123456789abcdef", signature, payload, "nats"],
    ["no key configured", Option.none(), "tok_0123456789abcdef", signature, payload, "nats"],
    ["a truncated signature", Option.some(key), "tok_0123456789abcdef", signature.slice(0, 10), payload, "nats"],
    ["an actor that is no token id", Option.some(key), "admin\nx", signActor(key, "admin\nx", payload), payload, "nats"]
  ] as const)("%s", (_what, verifyingKey, claimed, sig, bytes, expected) => {
    expect(verifiedActor(verifyingKey, claimed, sig, bytes)).toBe(expected)
  })
})
