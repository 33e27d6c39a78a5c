/**
 * NATS client settings as an operator writes them: one way to authenticate, or a configuration
 * error naming the variables that conflict.
 */
import { ConfigProvider, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { natsAuthConfig, natsAuthEnv } from "../../src/nats/natsAuth.js"

const read = (env: Record<string, string>) =>
  Effect.runSync(Effect.either(Effect.withConfigProvider(natsAuthConfig, ConfigProvider.fromMap(new Map(Object.entries(env))))))

const settings = (env: Record<string, string>) => Either.getOrThrowWith(read(env), (error) => new Error(String(error)))
const problem = (env: Record<string, string>) =>
  Either.match(read(env), { onLeft: (error) => String(error), onRight: (value) => `accepted ${JSON.stringify(value)}` })

describe("NATS credentials settings", () => {
  it.each([
    [{}, { auth: { _tag: "None" } }],
    [{ NATS_TOKEN: "s3cret" }, { auth: { _tag: "Token", token: "s3cret" } }],
    [{ NATS_USER: "api", NATS_PASSWORD: "pw", NATS_INBOX_PREFIX: "_INBOX_api" }, { auth: { _tag: "UserPassword", user: "api", password: "pw" }, inboxPrefix: "_INBOX_api" }],
    [{ NATS_CREDS: "/etc/berth/orchestrator.creds" }, { auth: { _tag: "Creds", path: "/etc/berth/orchestrator.creds" } }],
    [{ NATS_TOKEN: "  " }, { auth: { _tag: "None" } }]
  ])("%j -> %j", (env, expected) => {
    expect(settings(env)).toEqual(expected)
  })

  it.each([
    [{ NATS_TOKEN: "t", NATS_USER: "api", NATS_PASSWORD: "pw" }, "not NATS_USER/NATS_PASSWORD and NATS_TOKEN"],
    [{ NATS_CREDS: "/c", NATS_TOKEN: "t" }, "not NATS_CREDS and NATS_TOKEN"],
    [{ NATS_USER: "api" }, "NATS_USER and NATS_PASSWORD go together"],
    [{ NATS_PASSWORD: "pw" }, "NATS_USER and NATS_PASSWORD go together"],
    [{ NATS_INBOX_PREFIX: "_INBOX.>" }, 'NATS_INBOX_PREFIX must be a subject prefix without wildcards or spaces, got "_INBOX.>"']
  ])("refuses %j", (env, message) => {
    expect(problem(env)).toContain(message)
  })

  it("hands the same settings to a child process", () => {
    const given = { NATS_USER: "gateway", NATS_PASSWORD: "pw", NATS_INBOX_PREFIX: "_INBOX_gateway" }
    expect(natsAuthEnv(settings(given))).toEqual(given)
    expect(settings(natsAuthEnv(settings(given)))).toEqual(settings(given))
  })
})
