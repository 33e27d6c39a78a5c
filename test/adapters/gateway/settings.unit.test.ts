/**
 * The gateway's settings as an operator meets them: defaults with nothing set, values read from the
 * environment, and a start that fails naming the variable when one is wrong. Also which peers count
 * as trusted proxies.
 */
import { ConfigProvider, Duration, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { parseTrustedProxies } from "../../../src/adapters/gateway/proxy/trustedProxies.js"
import { defaultGatewaySettings, gatewaySettings } from "../../../src/adapters/gateway/settings.js"

const read = (env: Readonly<Record<string, string>>) =>
  Effect.runSync(Effect.either(Effect.withConfigProvider(gatewaySettings, ConfigProvider.fromMap(new Map(Object.entries(env))))))

describe("gateway settings", () => {
  it("defaults: 30 s upstream, 5 min idle, 10,000 connections, 16 KiB heads, 10 MiB bodies, no trusted proxy", () => {
    const settings = Either.getOrThrow(read({}))
    expect(Duration.toMillis(settings.upstreamTimeout)).toBe(30_000)
    expect(Duration.toMillis(settings.idleTimeout)).toBe(300_000)
    expect(settings.maxConnections).toBe(10_000)
    expect(settings.maxHeaderBytes).toBe(16_384)
    expect(settings.maxBodyBytes).toBe(10_485_760)
    expect(Duration.toMillis(settings.headersTimeout)).toBeLessThanOrEqual(Duration.toMillis(settings.requestTimeout))
    expect(settings.trustedProxies.entries).toEqual([])
    expect(settings.trustedProxies.trusts("127.0.0.1")).toBe(false)
    expect(settings).toMatchObject({ ...defaultGatewaySettings, trustedProxies: expect.anything() })
  })

  it("reads every variable", () => {
    const settings = Either.getOrThrow(
      read({
        BERTH_GATEWAY_UPSTREAM_TIMEOUT: "2 seconds",
        BERTH_GATEWAY_IDLE_TIMEOUT: "90 seconds",
        BERTH_GATEWAY_MAX_CONNECTIONS: "50",
        BERTH_GATEWAY_MAX_HEADER_SIZE: "8192",
        BERTH_GATEWAY_MAX_BODY: "1048576",
        BERTH_GATEWAY_HEADERS_TIMEOUT: "5 seconds",
        BERTH_GATEWAY_REQUEST_TIMEOUT: "1 minute",
        BERTH_GATEWAY_TRUSTED_PROXIES: "10.0.0.0/8, 192.0.2.7"
      })
    )
    expect(Duration.toMillis(settings.upstreamTimeout)).toBe(2_000)
    expect(Duration.toMillis(settings.idleTimeout)).toBe(90_000)
    expect(settings).toMatchObject({ maxConnections: 50, maxHeaderBytes: 8192, maxBodyBytes: 1_048_576 })
    expect(Duration.toMillis(settings.headersTimeout)).toBe(5_000)
    expect(Duration.toMillis(settings.requestTimeout)).toBe(60_000)
    expect(settings.trustedProxies.entries).toEqual(["10.0.0.0/8", "192.0.2.7"])
  })

  it.each([
    ["BERTH_GATEWAY_UPSTREAM_TIMEOUT", "soon"],
    ["BERTH_GATEWAY_UPSTREAM_TIMEOUT", "0 seconds"],
    ["BERTH_GATEWAY_IDLE_TIMEOUT", "forever"],
    ["BERTH_GATEWAY_MAX_CONNECTIONS", "0"],
    ["BERTH_GATEWAY_MAX_CONNECTIONS", "lots"],
    ["BERTH_GATEWAY_MAX_HEADER_SIZE", "-1"],
    ["BERTH_GATEWAY_MAX_BODY", "10MB"],
    ["BERTH_GATEWAY_HEADERS_TIMEOUT", "10 minutes"],
    ["BERTH_GATEWAY_REQUEST_TIMEOUT", "1 second"],
    ["BERTH_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"],
    ["BERTH_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/33"]
  ])("fails naming %s when it is %j", (name, value) => {
    const result = read({ [name]: value })
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) expect(String(result.left)).toContain(name)
  })
})

describe("trusted proxies", () => {
  const trusted = Either.getOrThrow(parseTrustedProxies(" 10.0.0.0/8 ,, 192.0.2.7, fd00::/8, ::1 "))

  it.each([
    ["10.1.2.3", true],
    ["::ffff:10.1.2.3", true],
    ["192.0.2.7", true],
    ["192.0.2.8", false],
    ["11.0.0.1", false],
    ["fd12::1", true],
    ["::1", true],
    ["fe80::1", false],
    ["", false]
  ])("%s trusted: %s", (address, expected) => {
    expect(trusted.trusts(address)).toBe(expected)
  })

  it("trusts nobody when the list is empty", () => {
    expect(Either.getOrThrow(parseTrustedProxies("")).trusts("127.0.0.1")).toBe(false)
  })
})
