/**
 * The gateway's deadlines and limits against a real nats-server, real upstreams and raw sockets:
 * 504 for an instance that does not answer in time (and not for one that answers, then streams
 * slowly), idle tunnels and keep-alive sockets closed, 413 for bodies over the cap (declared or
 * chunked), 431 for a head over the cap, 408 for a head sent too slowly, and the connection cap.
 * Timeouts are small here; every bound asserted leaves a wide margin for a loaded machine.
 */
import { request as httpRequest } from "node:http"
import type { Socket } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect } from "effect"
import { startTestNats, type TestNats } from "../../support/servers.js"
import {
  call,
  callEffect,
  gatewayFixture,
  openRawEffect,
  parseRawResponse,
  putTable,
  type RawConnection,
  rawWrite,
  unique,
  upstream,
  waitUntil
} from "./support.js"

let nats: TestNats
beforeAll(async () => {
  nats = await startTestNats()
})
afterAll(async () => {
  await nats.stop()
})

/** A gateway with the given settings, serving a fresh host from one upstream. */
const servedGateway = (settings: Parameters<typeof gatewayFixture>[1]) =>
  Effect.gen(function* () {
    const a = yield* upstream("a")
    const { gateway, kv } = yield* gatewayFixture(nats.url, settings)
    const project = unique("limits")
    yield* putTable(kv, project.projectId, { [project.host]: "dep_a" }, { dep_a: [a.address] })
    yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 5_000)
    return { a, gateway, host: project.host }
  })

/** Everything the gateway sends on a raw connection until it closes it (at most `withinMs`). */
const untilClosed = (connection: { readonly closed: Promise<number> }, withinMs: number) =>
  Effect.promise(() => connection.closed).pipe(
    Effect.timeoutFail({ duration: Duration.millis(withinMs), onTimeout: () => new Error(`connection still open after ${withinMs} ms`) }),
    Effect.orDie
  )

describe("gateway deadlines and limits", () => {
  it.scopedLive("refuses to start with an invalid setting, naming the variable", () =>
    Effect.gen(function* () {
      const env = new Map([["BERTH_GATEWAY_MAX_BODY", "ten megabytes"]])
      const error = yield* gatewayFixture(nats.url).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(env)), Effect.flip)
      expect(error._tag).toBe("GatewayError")
      expect(error.message).toContain("BERTH_GATEWAY_MAX_BODY")
    })
  )

  it.scopedLive("answers 504 problem+json when an instance sends no response headers within the upstream timeout", () =>
    Effect.gen(function* () {
      const { a, gateway, host } = yield* servedGateway({ settings: { upstreamTimeout: Duration.millis(500) } })

      const started = Date.now()
      const reply = yield* callEffect(gateway.url, host, { path: "/slow?delay=20000" })
      const tookMs = Date.now() - started

      expect(reply.status).toBe(504)
      expect(reply.headers["content-type"]).toBe("application/problem+json")
      expect(reply.json()).toMatchObject({
        title: "Gateway Timeout",
        status: 504,
        detail: `instance ${a.address} of deployment dep_a sent no response within 500 ms`
      })
      expect(tookMs).toBeGreaterThanOrEqual(450)
      expect(tookMs).toBeLessThan(15_000) // well before the instance's own 20 s
      expect(a.seen.filter((request) => request.url.startsWith("/slow"))).toHaveLength(1) // not repeated elsewhere
    })
  )

  it.scopedLive("lets a response that started in time stream slower than the upstream timeout; cuts one that goes silent for the idle timeout", () =>
    Effect.gen(function* () {
      const { gateway, host } = yield* servedGateway({
        settings: { upstreamTimeout: Duration.millis(300), idleTimeout: Duration.millis(1_500) }
      })

      // 10 ticks 150 ms apart: 1.5 s in all, five times the upstream timeout, never 1.5 s silent.
      const trickled = yield* callEffect(gateway.url, host, { path: "/trickle?every=150&count=10" })
      expect(trickled.status).toBe(200)
      expect(trickled.body.toString()).toBe("tick;".repeat(10))

      // Headers and one tick, then silence: the client gets the start, then the connection is cut.
      const stalled = yield* Effect.promise(
        () =>
          new Promise<{ status: number; body: string; cutAfterMs: number; error: string }>((resolve) => {
            const requestedAt = Date.now()
            const outgoing = httpRequest(new URL("/stall", gateway.url), { headers: { host }, agent: false }, (response) => {
              let body = ""
              response.setEncoding("utf8")
              response.on("data", (chunk: string) => (body += chunk))
              // The gateway wrote its last byte after the request started: the cut comes an idle timeout after that.
              const done = (error: string) => resolve({ status: response.statusCode ?? 0, body, cutAfterMs: Date.now() - requestedAt, error })
              response.once("error", (e) => done(String(e)))
              response.once("end", () => done("ended"))
              response.once("close", () => done(response.complete ? "ended" : "cut"))
            })
            outgoing.once("error", (e) => resolve({ status: 0, body: "", cutAfterMs: 0, error: String(e) }))
            outgoing.end()
          })
      )
      expect(stalled.status).toBe(200)
      expect(stalled.body).toBe("tick;")
      expect(stalled.error).not.toBe("ended")
      expect(stalled.cutAfterMs).toBeGreaterThanOrEqual(1_400)
      expect(stalled.cutAfterMs).toBeLessThan(20_000)
    })
  )

  it.scopedLive("closes an upgrade tunnel after the idle timeout without traffic, not while bytes flow", () =>
    Effect.gen(function* () {
      const { gateway, host } = yield* servedGateway({ settings: { idleTimeout: Duration.millis(1_500) } })
      const tunnel = yield* Effect.acquireRelease(
        Effect.promise(() => openTunnel(gateway.url, host)),
        (opened) => Effect.sync(() => opened.socket.destroy())
      )

      // A message every 150 ms for 3 s: twice the idle timeout in all, never more than a tenth of it quiet.
      let lastSentAt = 0
      for (let i = 0; i < 20; i++) {
        if (i > 0) yield* Effect.sleep("150 millis")
        const message = `m${i};`
        lastSentAt = Date.now()
        yield* Effect.sync(() => tunnel.socket.write(message))
        yield* waitUntil(Effect.sync(() => tunnel.echoed().endsWith(message)), 5_000)
      }
      expect(tunnel.isClosed()).toBe(false)

      const closedAt = yield* untilClosed(tunnel, 20_000)
      // The last traffic through the gateway (that message and its echo) came after it was sent.
      expect(closedAt - lastSentAt).toBeGreaterThanOrEqual(1_400)
    })
  )

  it.scopedLive("closes a kept-alive client connection after the idle timeout", () =>
    Effect.gen(function* () {
      const { gateway, host } = yield* servedGateway({ settings: { idleTimeout: Duration.millis(500) } })
      const connection = yield* openRawEffect(gateway.url)
      const requestedAt = Date.now()
      yield* rawWrite(connection, `GET /one HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
      yield* waitUntil(Effect.sync(() => connection.received().includes('"name":"a"')), 5_000)

      const closedAt = yield* untilClosed(connection, 20_000)
      expect(parseRawResponse(connection.received()).status).toBe(200)
      expect(parseRawResponse(connection.received()).headers.connection).toBe("keep-alive")
      expect(closedAt - requestedAt).toBeGreaterThanOrEqual(450)
      expect(closedAt - requestedAt).toBeLessThan(4_500) // Node's own keep-alive timeout is 5 s
    })
  )

  it.scopedLive("answers 413 problem+json to a declared body over the cap without reading it or asking the instance", () =>
    Effect.gen(function* () {
      const { a, gateway, host } = yield* servedGateway({ settings: { maxBodyBytes: 64 * 1024 } })

      const declared = yield* openRawEffect(gateway.url)
      yield* rawWrite(declared, `POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${1024 * 1024}\r\n\r\n${"x".repeat(1000)}`)
      yield* untilClosed(declared, 10_000)
      const reply = parseRawResponse(declared.received())
      expect(reply.status).toBe(413)
      expect(reply.headers["content-type"]).toBe("application/problem+json")
      expect(JSON.parse(reply.body)).toMatchObject({
        title: "Payload Too Large",
        status: 413,
        detail: "request body of 1048576 bytes is larger than the gateway's limit of 64 KiB"
      })

      // Expect: 100-continue: refused before the client sends a byte of it.
      const asking = yield* openRawEffect(gateway.url)
      yield* rawWrite(asking, `PUT /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`)
      yield* untilClosed(asking, 10_000)
      expect(asking.received()).not.toContain("100 Continue")
      expect(parseRawResponse(asking.received()).status).toBe(413)

      // At the cap it goes through.
      const atCap = yield* callEffect(gateway.url, host, { method: "POST", body: Buffer.alloc(64 * 1024, 1) })
      expect(atCap.status).toBe(200)
      expect(a.seen.filter((request) => request.url === "/upload")).toHaveLength(0)
    })
  )

  it.scopedLive("cuts off a chunked body that grows past the cap: 413 to the client, the instance's request aborted", () =>
    Effect.gen(function* () {
      const { a, gateway, host } = yield* servedGateway({ settings: { maxBodyBytes: 64 * 1024 } })
      const connection = yield* openRawEffect(gateway.url)
      yield* rawWrite(connection, `POST /chunked HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n`)

      // 16 KiB chunks until the gateway answers (the 5th passes the cap); never more than 40 of them.
      const chunk = Buffer.alloc(16 * 1024, 0x61)
      let sent = 0
      while (connection.received() === "" && !connection.isClosed() && sent < 40) {
        yield* rawWrite(connection, Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]))
        sent++
        yield* Effect.sleep("20 millis")
      }
      yield* untilClosed(connection, 10_000)

      const reply = parseRawResponse(connection.received())
      expect(reply.status).toBe(413)
      expect(JSON.parse(reply.body)).toMatchObject({ status: 413, detail: "request body is larger than the gateway's limit of 64 KiB" })
      expect(sent).toBeGreaterThanOrEqual(5)
      expect(sent).toBeLessThan(40)
      expect(a.seen.filter((request) => request.url === "/chunked")).toHaveLength(1)
      yield* waitUntil(Effect.sync(() => a.aborted.includes("/chunked")), 5_000)
    })
  )

  it.scopedLive("answers 431 problem+json to a request head over the cap", () =>
    Effect.gen(function* () {
      const { a, gateway, host } = yield* servedGateway({ settings: { maxHeaderBytes: 8 * 1024 } })
      const connection = yield* openRawEffect(gateway.url)
      yield* rawWrite(connection, `GET /big HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${"b".repeat(12 * 1024)}\r\n\r\n`)
      yield* untilClosed(connection, 10_000)

      const reply = parseRawResponse(connection.received())
      expect(reply.status).toBe(431)
      expect(reply.headers["content-type"]).toBe("application/problem+json")
      expect(JSON.parse(reply.body)).toMatchObject({ status: 431, title: "Request Header Fields Too Large" })
      expect(a.seen.filter((request) => request.url === "/big")).toHaveLength(0)

      const small = yield* callEffect(gateway.url, host, { headers: { "x-small": "b".repeat(1024) } })
      expect(small.status).toBe(200)
    })
  )

  it.scopedLive("answers 408 and closes a connection that sends its head too slowly (slowloris)", () =>
    Effect.gen(function* () {
      const { a, gateway, host } = yield* servedGateway({
        settings: { headersTimeout: Duration.millis(1_000), requestTimeout: Duration.seconds(60) }
      })
      const started = Date.now()
      const connection = yield* openRawEffect(gateway.url)
      yield* rawWrite(connection, `GET /loris HTTP/1.1\r\nHost: ${host}\r\n`)
      // A header line every 200 ms, for at most 10 s: never a complete head.
      for (let i = 0; i < 50 && !connection.isClosed(); i++) {
        yield* rawWrite(connection, `X-Loris-${i}: 1\r\n`)
        yield* Effect.sleep("200 millis")
      }
      const closedAt = yield* untilClosed(connection, 10_000)

      expect(parseRawResponse(connection.received()).status).toBe(408)
      expect(closedAt - started).toBeGreaterThanOrEqual(900)
      expect(a.seen.filter((request) => request.url === "/loris")).toHaveLength(0)
    })
  )

  it.scopedLive("closes connections over the cap as they arrive, and accepts again once one closes", () =>
    Effect.gen(function* () {
      const { gateway, host } = yield* servedGateway({ settings: { maxConnections: 3 } })
      // Three kept-alive connections, each answered once (so counted by the gateway). The readiness
      // probe's own connections may not have closed yet: one dropped for them is opened again.
      const holdOne = Effect.gen(function* () {
        for (let attempt = 0; attempt < 50; attempt++) {
          const connection = yield* openRawEffect(gateway.url)
          yield* rawWrite(connection, `GET /held HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
          yield* waitUntil(Effect.sync(() => connection.received().includes('"name":"a"') || connection.isClosed()), 5_000)
          if (!connection.isClosed()) return connection
          yield* Effect.sleep("100 millis")
        }
        return yield* Effect.die(new Error("could not hold a connection"))
      })
      const held: Array<RawConnection> = []
      for (let i = 0; i < 3; i++) held.push(yield* holdOne)

      const over = yield* Effect.promise(() => call(gateway.url, host).then((r) => `answered ${r.status}`, (e: unknown) => String(e)))
      expect(over).toMatch(/socket hang up|ECONNRESET|EPIPE/)

      yield* Effect.sync(() => held[0]?.socket.destroy())
      yield* waitUntil(
        Effect.promise(() => call(gateway.url, host).then((r) => r.status === 200, () => false)),
        10_000
      )
      for (const connection of held.slice(1)) expect(connection.isClosed()).toBe(false)
    })
  )
})

/** Opens an upgrade (the upstream echoes) and returns the raw tunnel socket. */
const openTunnel = (baseUrl: string, host: string) =>
  new Promise<{ socket: Socket; echoed(): string; isClosed(): boolean; closed: Promise<number> }>((resolve, reject) => {
    const outgoing = httpRequest(new URL("/socket", baseUrl), {
      headers: { host, connection: "Upgrade", upgrade: "websocket" },
      agent: false
    })
    outgoing.on("upgrade", (_response, socket: Socket, head: Buffer) => {
      let echoed = head.toString("utf8")
      let closedFlag = false
      socket.on("data", (chunk: Buffer) => (echoed += chunk.toString("utf8")))
      socket.on("error", () => {})
      const closed = new Promise<number>((done) =>
        socket.once("close", () => {
          closedFlag = true
          done(Date.now())
        })
      )
      resolve({ socket, echoed: () => echoed, isClosed: () => closedFlag, closed })
    })
    outgoing.on("response", (response) => reject(new Error(`no upgrade: ${response.statusCode}`)))
    outgoing.on("error", reject)
    outgoing.end()
  })
