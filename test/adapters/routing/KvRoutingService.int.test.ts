/**
 * The route table in KV on a real nats-server, written by two RoutingService instances as two
 * overlapping Berth processes would: neither rolls traffic back to a table derived from an older
 * project version, whether it knows the project (a cached revision) or meets it for the first time
 * (a create that finds the table there), and a deleted table is written again.
 */
import { Kvm } from "@nats-io/kv"
import { Effect, Either, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { kvRoutingService } from "../../../src/adapters/routing/KvRoutingService.js"
import type { RoutingServiceApi } from "../../../src/adapters/routing/RoutingService.js"
import type { RouteTable } from "../../../src/domain/routes.js"
import { Nats } from "../../../src/nats/Nats.js"
import { buckets } from "../../../src/nats/subjects.js"
import { startTestNats, type TestNats } from "../../support/servers.js"

let nats: TestNats
let runtime: ManagedRuntime.ManagedRuntime<Nats, unknown>
let first: RoutingServiceApi
let second: RoutingServiceApi

beforeAll(async () => {
  nats = await startTestNats()
  runtime = ManagedRuntime.make(Layer.fresh(Nats.layer(nats.url)))
  first = await runtime.runPromise(kvRoutingService)
  second = await runtime.runPromise(kvRoutingService)
})
afterAll(async () => {
  await runtime?.dispose()
  await nats?.stop()
})

const tableTo = (projectId: string, deploymentId: string): RouteTable => ({
  projectId,
  routes: { [`${projectId}.example.com`]: { deploymentId, sticky: "live", environmentId: "env_prod" } },
  upstreams: { [deploymentId]: ["127.0.0.1:3000"] }
})

const write = (service: RoutingServiceApi, table: RouteTable, version: number) => runtime.runPromise(Effect.either(service.writeTable(table, version)))
const stored = async (projectId: string) => {
  const table = await runtime.runPromise(first.readTable(projectId))
  return table === null ? null : { deploymentId: Object.values(table.routes)[0]?.deploymentId, basedOnVersion: table.basedOnVersion }
}

describe("KvRoutingService", () => {
  it("creates a new project's table, and refuses an older version from a process meeting it for the first time", async () => {
    expect(Either.isRight(await write(first, tableTo("p_one", "dep_b"), 5))).toBe(true)
    const stale = await write(second, tableTo("p_one", "dep_a"), 3)
    expect(Either.isLeft(stale) && stale.left).toMatchObject({ _tag: "StaleRouteTable", storedVersion: 5, ourVersion: 3 })
    expect(await stored("p_one")).toEqual({ deploymentId: "dep_b", basedOnVersion: 5 })
  })

  it("takes a newer version from either process, and the one whose revision is behind reads again", async () => {
    expect(Either.isRight(await write(second, tableTo("p_one", "dep_c"), 7))).toBe(true)
    // `first` last wrote revision N; its CAS fails, it reads version 7, and 6 is stale.
    const stale = await write(first, tableTo("p_one", "dep_x"), 6)
    expect(Either.isLeft(stale) && stale.left._tag).toBe("StaleRouteTable")
    expect(Either.isRight(await write(first, tableTo("p_one", "dep_d"), 8))).toBe(true)
    expect(await stored("p_one")).toEqual({ deploymentId: "dep_d", basedOnVersion: 8 })
  })

  it("writes a table again after it was deleted", async () => {
    expect(Either.isRight(await write(first, tableTo("p_two", "dep_a"), 2))).toBe(true)
    const { nc } = await runtime.runPromise(Nats)
    await (await new Kvm(nc).open(buckets.routes)).delete("p_two")
    expect(await stored("p_two")).toBeNull()
    expect(Either.isRight(await write(second, tableTo("p_two", "dep_b"), 3))).toBe(true)
    expect(await stored("p_two")).toEqual({ deploymentId: "dep_b", basedOnVersion: 3 })
  })
})
