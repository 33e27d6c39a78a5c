/**
 * The JetStream event store on a real nats-server: optimistic concurrency on append, and load =
 * snapshot + the envelopes after it, equal to folding the whole log.
 */
import { Effect, Either, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ProjectEvent } from "../../src/domain/events.js"
import { evolveAll, initialState } from "../../src/domain/state.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { EventStoreLive } from "../../src/eventstore/JetStreamEventStore.js"
import { Nats } from "../../src/nats/Nats.js"
import { startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
let runtime: ManagedRuntime.ManagedRuntime<EventStore, unknown>

beforeAll(async () => {
  nats = await startTestNats()
  runtime = ManagedRuntime.make(EventStoreLive.pipe(Layer.provide(Nats.layer(nats.url))))
})
afterAll(async () => {
  await runtime?.dispose()
  await nats?.stop()
})

const created: ProjectEvent = {
  type: "ProjectCreated",
  projectId: "proj_store",
  workspace: "acme",
  slug: "shop",
  apexDomain: "berth.test",
  defaultBranch: "main",
  environments: [{ id: "env_prod", slug: "production", kind: "production" }]
}
const requested = (deploymentId: string): ReadonlyArray<ProjectEvent> => [
  {
    type: "DeploymentRequested",
    deploymentId,
    environmentId: "env_prod",
    source: { image: "shop:1" },
    replicas: 1,
    port: 8080,
    cpuMillicores: 512,
    memorySizeMib: 512,
    env: {}
  },
  { type: "DeploymentBuilding", deploymentId }
]

describe("EventStore", () => {
  it("appends with the expected version and refuses a stale one", async () => {
    const result = await runtime.runPromise(
      Effect.gen(function* () {
        const store = yield* EventStore
        const v1 = yield* store.append("proj_cas", 0, { commandId: "cmd_1", at: 1, events: [created] })
        const v2 = yield* store.append("proj_cas", v1, { commandId: "cmd_2", at: 2, events: requested("dep_1") })
        const stale = yield* Effect.either(store.append("proj_cas", v1, { commandId: "cmd_3", at: 3, events: requested("dep_2") }))
        const loaded = yield* store.load("proj_cas")
        return { v1, v2, stale, loaded }
      })
    )
    expect(result.v2).toBeGreaterThan(result.v1)
    expect(Either.isLeft(result.stale) && result.stale.left._tag).toBe("VersionConflict")
    expect(result.loaded.version).toBe(result.v2)
    expect(Object.keys(result.loaded.state.deployments)).toEqual(["dep_1"])
    expect(result.loaded.state.handledCommands).toEqual(["cmd_1", "cmd_2"])
  })

  it("loads a snapshot plus the envelopes after it, equal to folding the whole log", async () => {
    const result = await runtime.runPromise(
      Effect.gen(function* () {
        const store = yield* EventStore
        const envelopes: Array<{ commandId: string; events: ReadonlyArray<ProjectEvent> }> = [
          { commandId: "cmd_c", events: [created] },
          ...Array.from({ length: 6 }, (_, i) => ({ commandId: `cmd_d${i}`, events: requested(`dep_${i}`) }))
        ]
        let version = 0
        let folded = initialState
        for (const [index, envelope] of envelopes.entries()) {
          version = yield* store.append("proj_snap", version, { ...envelope, at: index })
          folded = evolveAll(folded, envelope.events, envelope.commandId)
          if (index === 3) yield* store.saveSnapshot("proj_snap", version, folded)
        }
        const loaded = yield* store.load("proj_snap")
        return { loaded, folded, version }
      })
    )
    expect(result.loaded.version).toBe(result.version)
    expect(result.loaded.envelopesSinceSnapshot).toBe(3)
    expect(result.loaded.state).toEqual(result.folded)
  })

  it("loads an unknown project as empty at version 0", async () => {
    const loaded = await runtime.runPromise(Effect.flatMap(EventStore, (store) => store.load("proj_nobody")))
    expect(loaded).toEqual({ state: initialState, version: 0, envelopesSinceSnapshot: 0 })
  })
})
