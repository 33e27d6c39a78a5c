/**
 * A role that binds (its NATS user may not create buckets) and starts before the orchestrator: it
 * waits for the bucket and opens it once the orchestrator has created it, without creating it itself.
 */
import { Kvm } from "@nats-io/kv"
import { Effect, Fiber } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { openKv } from "../../src/nats/buckets.js"
import { Nats } from "../../src/nats/Nats.js"
import { startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
beforeAll(async () => {
  nats = await startTestNats()
})
afterAll(async () => {
  await nats?.stop()
})

describe("opening a bucket that does not exist yet", () => {
  it("waits when binding, and opens it once it is created elsewhere", async () => {
    const program = Effect.gen(function* () {
      const bound = yield* Nats
      const waiting = yield* Effect.fork(openKv(bound, "berth_later", { history: 1 }))
      yield* Effect.sleep("1500 millis")
      const early = yield* Fiber.poll(waiting)
      const exists = yield* Effect.promise(() => bound.jsm.streams.info("KV_berth_later").then(() => true, () => false))
      // The orchestrator's side: a connection that ensures.
      yield* Effect.promise(() => new Kvm(bound.nc).create("berth_later", { history: 1 }))
      const kv = yield* Fiber.join(waiting)
      yield* Effect.promise(() => new Kvm(bound.nc).open("berth_later").then((writer) => writer.put("k", "v")))
      const read = yield* Effect.promise(() => kv.get("k"))
      return { early: early._tag, existedWhileWaiting: exists, read: read?.string() }
    }).pipe(Effect.provide(Nats.layer(nats.url, { streams: "bind" })))
    expect(await Effect.runPromise(program)).toEqual({ early: "None", existedWhileWaiting: false, read: "v" })
  })
})
