/**
 * The archive of retired deployments on a real nats-server: a snapshot of the hot state loads without
 * the retired deployments, they come back from the archive by id, and what the archive has lost is
 * recovered from the log (deployments and the retired routes alike).
 */
import { Kvm } from "@nats-io/kv"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decide, type Message } from "../../src/domain/decide.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import { retire, type Retirement } from "../../src/domain/retirement.js"
import { evolveAll, initialState, type ProjectState } from "../../src/domain/state.js"
import { nextSteps } from "../../src/domain/steps.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { EventStoreLive } from "../../src/eventstore/JetStreamEventStore.js"
import { Archive } from "../../src/eventstore/Archive.js"
import { Nats } from "../../src/nats/Nats.js"
import { buckets } from "../../src/nats/subjects.js"
import { context, createProject, deploy, eventsOf, successOf } from "../domain/decider.js"
import { startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
let nc: NatsConnection
let runtime: ManagedRuntime.ManagedRuntime<EventStore | Archive, unknown>

const projectId = "proj_1" // the decider fixtures' project
let full: ProjectState
let retirement: Retirement

const run = <A, E>(effect: Effect.Effect<A, E, EventStore | Archive>) => runtime.runPromise(effect)

beforeAll(async () => {
  nats = await startTestNats()
  nc = await connect({ servers: nats.url })
  runtime = ManagedRuntime.make(EventStoreLive.pipe(Layer.provide(Nats.layer(nats.url))))
  // Six deployments, each decided and run to ready as the actor would, one envelope per decision.
  await run(
    Effect.gen(function* () {
      const store = yield* EventStore
      let state = initialState
      let version = 0
      const record = (message: Message) =>
        Effect.gen(function* () {
          const events: ReadonlyArray<ProjectEvent> = eventsOf(decide(state, message, context))
          const commandId = "commandId" in message ? message.commandId : null
          version = yield* store.append(projectId, version, { commandId, at: 0, events })
          state = evolveAll(state, events, commandId)
        })
      yield* record(createProject())
      for (let n = 1; n <= 6; n++) {
        yield* record(deploy({ deploymentId: `dep_${n}`, git: { sha: `${n}`.repeat(8), branch: `feature-${n}` } }))
        for (let step = nextSteps(state)[0]; step !== undefined; step = nextSteps(state)[0]) yield* record(successOf(state, step))
      }
      full = state
      retirement = retire(state, { keep: 2, version, busy: () => false })
      yield* (yield* Archive).archive(projectId, state, retirement)
      yield* store.saveSnapshot(projectId, version, retirement.state)
    })
  )
})
afterAll(async () => {
  await runtime?.dispose()
  await nc?.close()
  await nats?.stop()
})

const forget = async (key: string) => (await new Kvm(nc).open(buckets.archive)).delete(key)

describe("the archive", () => {
  it("holds the retired deployments; the snapshot loads without them", async () => {
    expect(retirement.retired.map((d) => d.id).sort()).toEqual(["dep_1", "dep_2", "dep_3", "dep_4"])
    const loaded = await run(Effect.flatMap(EventStore, (store) => store.load(projectId)))
    expect(loaded.envelopesSinceSnapshot).toBe(0)
    expect(loaded.state).toEqual(retirement.state)
    const back = await run(Effect.flatMap(Archive, (archive) => archive.archived(projectId, ["dep_2", "dep_3"])))
    expect(back).toEqual([full.deployments["dep_2"], full.deployments["dep_3"]])
  })

  it("leaves out ids never retired", async () => {
    expect(await run(Effect.flatMap(Archive, (archive) => archive.archived(projectId, ["dep_nope"])))).toEqual([])
  })

  it("recovers a lost deployment entry from the log, and archives it again", async () => {
    await forget(`${projectId}.dep_1`)
    const back = await run(Effect.flatMap(Archive, (archive) => archive.archived(projectId, ["dep_1"])))
    expect(back).toEqual([full.deployments["dep_1"]])
    const entry = await (await new Kvm(nc).open(buckets.archive)).get(`${projectId}.dep_1`)
    expect(entry?.json<{ deployment: unknown }>().deployment).toEqual(full.deployments["dep_1"])
  })

  it("rebuilds lost retired routes from the log", async () => {
    const stored = await run(Effect.flatMap(Archive, (archive) => archive.retiredRoutes(projectId, retirement.state)))
    expect(stored).toEqual(retirement.routes)
    await forget(projectId)
    const rebuilt = await run(Effect.flatMap(Archive, (archive) => archive.retiredRoutes(projectId, retirement.state)))
    expect(rebuilt).toEqual(retirement.routes)
  })
})
