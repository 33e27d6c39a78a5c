/**
 * The gateway against a real nats-server and real upstream HTTP servers: Host routing from the KV
 * route table, problems for unknown hosts and dead deployments, round robin and failover, forwarded
 * headers (set from the socket unless the peer is a trusted proxy), streaming both ways, WebSocket upgrades, live route switches and graceful shutdown.
 */
import { createHash, randomBytes } from "node:crypto"
import { request as httpRequest } from "node:http"
import type { Socket } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Exit, Scope } from "effect"
import { parseTrustedProxies } from "../../../src/adapters/gateway/proxy/trustedProxies.js"
import { buckets } from "../../../src/nats/subjects.js"
import { startTestNats, type TestNats } from "../../support/servers.js"
import {
  type Answer,
  call,
  callEffect,
  gatewayFixture,
  putTable,
  refusedAddress,
  startResetter,
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

const trusting = (list: string) => Either.getOrThrow(parseTrustedProxies(list))

const answeredBy = (reply: { json<T>(): T }) => reply.json<Answer>().name

describe("gateway", () => {
  it.scopedLive("routes by Host (any case, any port) to the deployment's instance and tags the response (debug headers on)", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const b = yield* upstream("b")
      const { gateway, kv } = yield* gatewayFixture(nats.url, { settings: { debugHeaders: true } })
      const one = unique("route")
      const two = unique("route")
      yield* putTable(kv, one.projectId, { [one.host]: "dep_a" }, { dep_a: [a.address] })
      yield* putTable(kv, two.projectId, { [two.host]: "dep_b" }, { dep_b: [b.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, two.host), (r) => r.status === 200), 2_000)

      const first = yield* callEffect(gateway.url, `${one.host.toUpperCase()}:8080`, { path: "/hello?x=1" })
      const second = yield* callEffect(gateway.url, two.host)

      expect(first.status).toBe(200)
      expect(first.json<Answer>()).toMatchObject({ name: "a", method: "GET", url: "/hello?x=1" })
      expect(first.headers["x-berth-deployment"]).toBe("dep_a")
      expect(first.headers["x-upstream"]).toBe("a")
      expect(answeredBy(second)).toBe("b")
      expect(second.headers["x-berth-deployment"]).toBe("dep_b")
    })
  )

  it.scopedLive("hides X-Berth-Deployment unless BERTH_GATEWAY_DEBUG_HEADERS=1 turns it on", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const project = unique("debug")
      // Both read the setting from the environment, as the gateway role does.
      const quiet = yield* gatewayFixture(nats.url)
      const debugging = yield* gatewayFixture(nats.url).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["BERTH_GATEWAY_DEBUG_HEADERS", "1"]])))
      )
      yield* putTable(quiet.kv, project.projectId, { [project.host]: "dep_secret" }, { dep_secret: [a.address] })
      yield* waitUntil(Effect.map(callEffect(quiet.gateway.url, project.host), (r) => r.status === 200), 2_000)
      yield* waitUntil(Effect.map(callEffect(debugging.gateway.url, project.host), (r) => r.status === 200), 2_000)

      const hidden = yield* callEffect(quiet.gateway.url, project.host)
      const shown = yield* callEffect(debugging.gateway.url, project.host)
      expect(answeredBy(hidden)).toBe("a")
      expect(hidden.headers["x-berth-deployment"]).toBeUndefined()
      expect(shown.headers["x-berth-deployment"]).toBe("dep_secret")
    })
  )

  it.scopedLive("serves the tables present at start as soon as it listens", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const project = unique("start")
      const { kv } = yield* gatewayFixture(nats.url)
      yield* putTable(kv, project.projectId, { [project.host]: "dep_a" }, { dep_a: [a.address] })

      const { gateway } = yield* gatewayFixture(nats.url)
      const reply = yield* callEffect(gateway.url, project.host)

      expect(reply.status).toBe(200)
      expect(answeredBy(reply)).toBe("a")
    })
  )

  it.scopedLive("answers 404 problem+json for a host no deployment serves, and after a project's table is deleted", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const { gateway, kv } = yield* gatewayFixture(nats.url)
      const project = unique("gone")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_a" }, { dep_a: [a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const unknown = yield* callEffect(gateway.url, "nobody.berth.localhost:81", { method: "POST", body: "ignored" })
      expect(unknown.status).toBe(404)
      expect(unknown.headers["content-type"]).toBe("application/problem+json")
      expect(unknown.json()).toEqual({
        type: "about:blank",
        title: "Not Found",
        status: 404,
        detail: "no deployment serves host nobody.berth.localhost"
      })

      yield* Effect.promise(() => kv.delete(project.projectId))
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 404), 2_000)
    })
  )

  it.scopedLive("skips an undecodable table and keeps serving the others", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const { gateway, kv } = yield* gatewayFixture(nats.url)
      const good = unique("good")
      const bad = unique("bad")
      yield* Effect.promise(() => kv.put(bad.projectId, "{not json"))
      yield* putTable(kv, good.projectId, { [good.host]: "dep_a" }, { dep_a: [a.address] })

      yield* waitUntil(Effect.map(callEffect(gateway.url, good.host), (r) => r.status === 200), 2_000)
      expect((yield* callEffect(gateway.url, bad.host)).status).toBe(404)
      yield* Effect.promise(() => kv.purge(bad.projectId))
    })
  )

  it.scopedLive("answers 503 problem+json when the deployment has no running instances", () =>
    Effect.gen(function* () {
      const { gateway, kv } = yield* gatewayFixture(nats.url)
      const project = unique("empty")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_empty" }, { dep_empty: [] })

      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 503), 2_000)
      const reply = yield* callEffect(gateway.url, project.host)
      expect(reply.headers["content-type"]).toBe("application/problem+json")
      expect(reply.json()).toMatchObject({ type: "about:blank", title: "Service Unavailable", status: 503 })
    })
  )

  it.scopedLive("spreads requests round robin over the instances", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const b = yield* upstream("b")
      const { gateway, kv } = yield* gatewayFixture(nats.url)
      const project = unique("rr")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_ab" }, { dep_ab: [a.address, b.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const names: Array<string> = []
      for (let i = 0; i < 6; i++) names.push(answeredBy(yield* callEffect(gateway.url, project.host)))

      expect(names.filter((n) => n === "a")).toHaveLength(3)
      expect(names.filter((n) => n === "b")).toHaveLength(3)
      for (let i = 1; i < names.length; i++) expect(names[i]).not.toBe(names[i - 1])
    })
  )

  it.scopedLive("fails over to another instance when one refuses, replaying a small body or streaming a large one", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const dead = yield* Effect.promise(refusedAddress)
      const { gateway, kv } = yield* gatewayFixture(nats.url, { refusedCooldown: 0 })
      const project = unique("failover")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_x" }, { dep_x: [dead, a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const body = randomBytes(64 * 1024)
      for (let i = 0; i < 4; i++) {
        const reply = yield* callEffect(gateway.url, project.host, { method: "POST", path: "/orders", body })
        expect(reply.status).toBe(200)
        expect(reply.json<Answer>()).toMatchObject({
          name: "a",
          method: "POST",
          bodyBytes: body.length,
          bodySha256: createHash("sha256").update(body).digest("hex")
        })
      }
      // Too large to hold: sent only once an instance has accepted the connection.
      const large = randomBytes(4 * 1024 * 1024)
      for (let i = 0; i < 2; i++) {
        const reply = yield* callEffect(gateway.url, project.host, { method: "POST", body: large })
        expect(reply.json<Answer>()).toMatchObject({ name: "a", bodyBytes: large.length })
      }
    })
  )

  it.scopedLive("tries an instance that failed only after the others for a while", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const resetter = yield* Effect.acquireRelease(Effect.promise(startResetter), (server) => Effect.promise(() => server.close()))
      const { gateway, kv } = yield* gatewayFixture(nats.url)
      const project = unique("cooldown")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_x" }, { dep_x: [resetter.address, a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)
      yield* waitUntil(Effect.sync(() => resetter.connections() > 0), 2_000)
      const before = resetter.connections()

      for (let i = 0; i < 6; i++) {
        const reply = yield* callEffect(gateway.url, project.host)
        expect(answeredBy(reply)).toBe("a") // GET: safe to repeat on another instance after a reset
      }
      expect(resetter.connections()).toBe(before)
    })
  )

  it.scopedLive("does not repeat a POST an instance may have acted on (reset after the request was sent)", () =>
    Effect.gen(function* () {
      const resetter = yield* Effect.acquireRelease(Effect.promise(startResetter), (server) => Effect.promise(() => server.close()))
      const a = yield* upstream("a")
      const { gateway, kv } = yield* gatewayFixture(nats.url, { refusedCooldown: 0 })
      const project = unique("nopost")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_x" }, { dep_x: [resetter.address, a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const statuses = new Set<number>()
      for (let i = 0; i < 4; i++) statuses.add((yield* callEffect(gateway.url, project.host, { method: "POST", body: "pay" })).status)

      expect([...statuses].sort()).toEqual([200, 502])
      expect(a.seen.filter((request) => request.method === "POST")).toHaveLength(2)
    })
  )

  it.scopedLive("answers 502 problem+json when every instance refuses", () =>
    Effect.gen(function* () {
      const dead1 = yield* Effect.promise(refusedAddress)
      const dead2 = yield* Effect.promise(refusedAddress)
      const { gateway, kv } = yield* gatewayFixture(nats.url)
      const project = unique("down")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_down" }, { dep_down: [dead1, dead2] })

      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 502), 2_000)
      const reply = yield* callEffect(gateway.url, project.host)
      expect(reply.headers["content-type"]).toBe("application/problem+json")
      const problem = reply.json<{ title: string; detail: string }>()
      expect(problem.title).toBe("Bad Gateway")
      expect(problem.detail).toContain(dead1)
      expect(problem.detail).toContain(dead2)
      expect(problem.detail).toContain("ECONNREFUSED")
    })
  )

  it.scopedLive("sets X-Forwarded-For, -Proto and -Host from the socket and drops what an untrusted client claims", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      // Some proxy is trusted, just not this client (127.0.0.1).
      const { gateway, kv } = yield* gatewayFixture(nats.url, { settings: { trustedProxies: trusting("10.0.0.0/8") } })
      const project = unique("fwd")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_a" }, { dep_a: [a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const plain = (yield* callEffect(gateway.url, `${project.host}:8080`)).json<Answer>().headers
      const spoofed = (yield* callEffect(gateway.url, project.host, {
        headers: {
          "x-forwarded-for": "203.0.113.7",
          "x-forwarded-proto": "https",
          "x-forwarded-host": "bank.example",
          "x-forwarded-port": "443",
          "x-real-ip": "203.0.113.8",
          forwarded: "for=203.0.113.9;proto=https",
          connection: "keep-alive, x-secret",
          "x-secret": "1"
        }
      })).json<Answer>().headers

      expect(plain).toMatchObject({
        host: `${project.host}:8080`,
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-proto": "http",
        "x-forwarded-host": `${project.host}:8080`
      })
      expect(spoofed).toMatchObject({ "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http", "x-forwarded-host": project.host })
      expect(spoofed["x-real-ip"]).toBeUndefined()
      expect(spoofed.forwarded).toBeUndefined()
      expect(spoofed["x-forwarded-port"]).toBeUndefined()
      expect(spoofed["x-secret"]).toBeUndefined()

      // The same on an upgrade, whose head is replayed raw down the tunnel.
      yield* Effect.promise(() =>
        upgradeAndEcho(gateway.url, project.host, ["hi"], { "X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.8", Forwarded: "for=203.0.113.9" })
      )
      const upgrade = a.seen.find((request) => request.headers.upgrade === "websocket")
      expect(upgrade?.headers["x-forwarded-for"]).toBe("127.0.0.1")
      expect(upgrade?.headers["x-real-ip"]).toBeUndefined()
      expect(upgrade?.headers.forwarded).toBeUndefined()
    })
  )

  it.scopedLive("keeps a trusted proxy's X-Forwarded-For chain, appends the proxy, and keeps its -Proto, -Host, Forwarded and X-Real-IP", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const { gateway, kv } = yield* gatewayFixture(nats.url, { settings: { trustedProxies: trusting("10.0.0.0/8, 127.0.0.1") } })
      const project = unique("trusted")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_a" }, { dep_a: [a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const viaProxy = (yield* callEffect(gateway.url, project.host, {
        headers: {
          "x-forwarded-for": "203.0.113.7, 10.1.1.1",
          "x-forwarded-proto": "https",
          "x-forwarded-host": "shop.example",
          "x-real-ip": "203.0.113.7",
          forwarded: "for=203.0.113.7;proto=https"
        }
      })).json<Answer>().headers
      const direct = (yield* callEffect(gateway.url, project.host)).json<Answer>().headers

      expect(viaProxy).toMatchObject({
        "x-forwarded-for": "203.0.113.7, 10.1.1.1, 127.0.0.1",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "shop.example",
        "x-real-ip": "203.0.113.7",
        forwarded: "for=203.0.113.7;proto=https"
      })
      expect(direct).toMatchObject({ "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http", "x-forwarded-host": project.host })

      yield* Effect.promise(() => upgradeAndEcho(gateway.url, project.host, ["hi"], { "X-Forwarded-For": "203.0.113.7" }))
      const upgrade = a.seen.find((request) => request.headers.upgrade === "websocket")
      expect(upgrade?.headers["x-forwarded-for"]).toBe("203.0.113.7, 127.0.0.1")
    })
  )

  it.scopedLive("streams a large request body and the response", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const { gateway, kv } = yield* gatewayFixture(nats.url)
      const project = unique("large")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_a" }, { dep_a: [a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const body = randomBytes(8 * 1024 * 1024)
      const answer = (yield* callEffect(gateway.url, project.host, { method: "PUT", body })).json<Answer>()
      expect(answer.bodyBytes).toBe(body.length)
      expect(answer.bodySha256).toBe(createHash("sha256").update(body).digest("hex"))

      const echoed = yield* callEffect(gateway.url, project.host, { method: "POST", path: "/echo", body })
      expect(echoed.body.equals(body)).toBe(true)
    })
  )

  it.scopedLive("streams chunk by chunk: the response starts before the request body ends", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const { gateway, kv } = yield* gatewayFixture(nats.url)
      const project = unique("chunks")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_a" }, { dep_a: [a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      // Each chunk is sent only after the previous one came back through the gateway.
      const received = yield* Effect.promise(
        () =>
          new Promise<string>((resolve, reject) => {
            const url = new URL("/echo", gateway.url)
            const outgoing = httpRequest(url, { method: "POST", headers: { host: project.host }, agent: false })
            let sent = 0
            let text = ""
            const sendNext = () => {
              sent++
              if (sent <= 3) outgoing.write(`ping-${sent};`)
              else outgoing.end()
            }
            outgoing.on("response", (response) => {
              expect(response.headers["transfer-encoding"]).toBe("chunked")
              response.setEncoding("utf8")
              response.on("data", (chunk: string) => {
                text += chunk
                if (text.endsWith(`ping-${sent};`)) sendNext()
              })
              response.on("end", () => resolve(text))
            })
            outgoing.on("error", reject)
            outgoing.flushHeaders()
            sendNext()
          })
      )
      expect(received).toBe("ping-1;ping-2;ping-3;")
    })
  )

  it.scopedLive("passes a WebSocket upgrade through and echoes bytes both ways", () =>
    Effect.gen(function* () {
      const dead = yield* Effect.promise(refusedAddress)
      const a = yield* upstream("a")
      const { gateway, kv } = yield* gatewayFixture(nats.url)
      const project = unique("ws")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_a" }, { dep_a: [dead, a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const result = yield* Effect.promise(() => upgradeAndEcho(gateway.url, project.host, ["hello ", "gateway"]))
      expect(result.status).toBe(101)
      expect(result.upstream).toBe("a")
      expect(result.echoed).toBe("hello gateway")
      const seen = a.seen.find((request) => request.headers.upgrade === "websocket")
      expect(seen?.headers).toMatchObject({ host: project.host, "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http" })

      const refused = yield* callEffect(gateway.url, "nobody.berth.localhost", {
        headers: { connection: "Upgrade", upgrade: "websocket" }
      })
      expect(refused.status).toBe(404)
      expect(refused.headers["content-type"]).toBe("application/problem+json")
    })
  )

  it.scopedLive("applies a route switch within a second without dropping a request in flight", () =>
    Effect.gen(function* () {
      const oldUp = yield* upstream("old")
      const newUp = yield* upstream("new")
      // Debug headers on: each response says which deployment answered.
      const { gateway, kv } = yield* gatewayFixture(nats.url, { settings: { debugHeaders: true } })
      const project = unique("switch")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_old" }, { dep_old: [oldUp.address] }, 1)
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const slow = call(gateway.url, project.host, { path: "/slow?delay=1500" })
      yield* waitUntil(Effect.sync(() => oldUp.seen.some((request) => request.url.startsWith("/slow"))), 2_000)

      yield* putTable(kv, project.projectId, { [project.host]: "dep_new" }, { dep_new: [newUp.address] }, 2)
      const switchedAfter = yield* waitUntil(
        Effect.map(callEffect(gateway.url, project.host), (r) => r.headers["x-berth-deployment"] === "dep_new"),
        1_000
      )
      const inFlight = yield* Effect.promise(() => slow)

      yield* Effect.log(`route switch visible after ${switchedAfter} ms`)
      expect(switchedAfter).toBeLessThan(1_000)
      expect(inFlight.status).toBe(200)
      expect(answeredBy(inFlight)).toBe("old")
      expect(inFlight.headers["x-berth-deployment"]).toBe("dep_old")
      expect(answeredBy(yield* callEffect(gateway.url, project.host))).toBe("new")
    })
  )

  it.scopedLive("watches again when its watch stalls (consumer deleted under it)", () =>
    Effect.gen(function* () {
      const oldUp = yield* upstream("old")
      const newUp = yield* upstream("new")
      const { gateway, kv, jsm } = yield* gatewayFixture(nats.url, { routeStallCheck: "200 millis", settings: { debugHeaders: true } })
      const project = unique("stall")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_old" }, { dep_old: [oldUp.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const stream = `KV_${buckets.routes}`
      const consumers = yield* Effect.promise(async () => {
        const names: Array<string> = []
        for await (const consumer of jsm.consumers.list(stream)) names.push(consumer.config.name ?? consumer.name)
        return names
      })
      expect(consumers.length).toBeGreaterThan(0)
      for (const name of consumers) yield* Effect.promise(() => jsm.consumers.delete(stream, name))
      yield* putTable(kv, project.projectId, { [project.host]: "dep_new" }, { dep_new: [newUp.address] }, 2)

      const recoveredAfter = yield* waitUntil(
        Effect.map(callEffect(gateway.url, project.host), (r) => r.headers["x-berth-deployment"] === "dep_new"),
        3_000
      )
      yield* Effect.log(`route watch recovered after ${recoveredAfter} ms`)
    })
  )

  it.scopedLive("lets a request in flight finish when the gateway stops", () =>
    Effect.gen(function* () {
      const a = yield* upstream("a")
      const scope = yield* Scope.make()
      const { gateway, kv } = yield* gatewayFixture(nats.url).pipe(Scope.extend(scope))
      const project = unique("stop")
      yield* putTable(kv, project.projectId, { [project.host]: "dep_a" }, { dep_a: [a.address] })
      yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 2_000)

      const slow = call(gateway.url, project.host, { path: "/slow?delay=700" })
      yield* waitUntil(Effect.sync(() => a.seen.some((request) => request.url.startsWith("/slow"))), 2_000)
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      const stoppedAfter = Date.now() - started

      const reply = yield* Effect.promise(() => slow)
      expect(reply.status).toBe(200)
      expect(stoppedAfter).toBeLessThan(3_000)
      const refused = yield* Effect.promise(() => call(gateway.url, project.host).then(() => "answered", (e: unknown) => String(e)))
      expect(refused).toContain("ECONNREFUSED")
    })
  )
})

/** Sends an upgrade request, then each message after the previous one echoed; returns what came back. */
const upgradeAndEcho = (baseUrl: string, host: string, messages: ReadonlyArray<string>, extraHeaders: Readonly<Record<string, string>> = {}) =>
  new Promise<{ status: number; upstream: string | undefined; echoed: string }>((resolve, reject) => {
    const outgoing = httpRequest(new URL("/socket", baseUrl), {
      headers: { ...extraHeaders, host, connection: "Upgrade", upgrade: "websocket" },
      agent: false
    })
    outgoing.on("upgrade", (response, socket: Socket, head: Buffer) => {
      let echoed = head.toString("utf8")
      let index = 0
      const expected = messages.join("")
      const sendNext = () => {
        const message = messages[index++]
        if (message !== undefined) socket.write(message)
      }
      socket.on("data", (chunk: Buffer) => {
        echoed += chunk.toString("utf8")
        if (echoed.length >= expected.length) {
          socket.destroy()
          resolve({ status: response.statusCode ?? 0, upstream: headerOf(response.headers["x-upstream"]), echoed })
        } else sendNext()
      })
      sendNext()
    })
    outgoing.on("response", (response) => reject(new Error(`no upgrade: ${response.statusCode}`)))
    outgoing.on("error", reject)
    outgoing.end()
  })

const headerOf = (value: string | ReadonlyArray<string> | undefined) => (typeof value === "string" ? value : undefined)

