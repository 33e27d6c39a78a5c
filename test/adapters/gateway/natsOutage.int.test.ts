/**
 * The gateway through a NATS outage, against a real nats-server that is stopped and started again on
 * the same port and store: while NATS is away the last route table keeps serving; once it is back,
 * route changes reach the gateway again without a restart.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Kvm } from "@nats-io/kv"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { Nats } from "../../../src/nats/Nats.js"
import { buckets } from "../../../src/nats/subjects.js"
import { startNatsServer } from "../../../src/local/NatsServer.js"
import { projectNatsConf } from "../../support/servers.js"
import {
  callEffect,
  gatewayFixture,
  putTable,
  unique,
  upstream,
  waitUntil
} from "./support.js"

describe("gateway through a NATS outage", () => {
  it.scopedLive(
    "keeps serving the last routes while NATS is down and follows route changes once it is back",
    () =>
      Effect.gen(function* () {
        const oldUp = yield* upstream("old")
        const newUp = yield* upstream("new")
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "berth-gw-outage-"))),
          (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
        )
        const natsOptions = { dataDir: join(dir, "nats"), configPath: projectNatsConf }

        const firstRun = yield* Scope.make()
        const first = yield* startNatsServer(natsOptions).pipe(Scope.extend(firstRun))
        const { gateway, kv } = yield* gatewayFixture(first.url, { settings: { debugHeaders: true } })
        const project = unique("outage")
        yield* putTable(kv, project.projectId, { [project.host]: "dep_old" }, { dep_old: [oldUp.address] }, 1)
        yield* waitUntil(Effect.map(callEffect(gateway.url, project.host), (r) => r.status === 200), 5_000)

        yield* Scope.close(firstRun, Exit.void)
        // NATS is gone: every request for 3 s is still answered from the last table.
        const outageStarted = Date.now()
        let servedDuringOutage = 0
        while (Date.now() - outageStarted < 3_000) {
          const reply = yield* callEffect(gateway.url, project.host)
          expect(reply.status).toBe(200)
          expect(reply.headers["x-berth-deployment"]).toBe("dep_old")
          servedDuringOutage++
          yield* Effect.sleep("100 millis")
        }
        expect(servedDuringOutage).toBeGreaterThan(5)

        // The same server back, on the same port and store; the route changes through a new connection.
        const second = yield* startNatsServer({ ...natsOptions, port: first.port })
        expect(second.port).toBe(first.port)
        const writer = yield* Layer.build(Nats.layer(second.url))
        const writerKv = yield* Effect.promise(() => new Kvm(Context.get(writer, Nats).nc).open(buckets.routes))
        yield* putTable(writerKv, project.projectId, { [project.host]: "dep_new" }, { dep_new: [newUp.address] }, 2)

        const followedAfter = yield* waitUntil(
          Effect.map(callEffect(gateway.url, project.host), (r) => r.headers["x-berth-deployment"] === "dep_new"),
          45_000
        )
        yield* Effect.log(`route change after the NATS restart reached the gateway in ${followedAfter} ms`)
        const reply = yield* callEffect(gateway.url, project.host)
        expect(reply.status).toBe(200)
        expect(reply.json<{ name: string }>().name).toBe("new")
      }),
    90_000
  )
})
