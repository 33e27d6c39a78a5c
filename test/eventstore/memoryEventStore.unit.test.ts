/**
 * The in-memory EventStore and Archive (src/eventstore/memory/), which unit tests of the actor stand
 * on: the same optimistic concurrency, snapshot + log loading, and archive recovery from the log as
 * the JetStream layer (eventStore.int.test.ts and archive.int.test.ts check that one).
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { decide, type Message } from "../../src/domain/decide.js"
import { retire } from "../../src/domain/retirement.js"
import { evolveAll, initialState, type ProjectState } from "../../src/domain/state.js"
import { nextSteps } from "../../src/domain/steps.js"
import { makeMemoryEventStore, type MemoryEventStore } from "../../src/eventstore/memory/MemoryEventStore.js"
import { context, createProject, deploy, eventsOf, projectId, successOf } from "../domain/decider.js"

const run = Effect.runPromise

/** `deployments` deployments decided and run to ready as the actor would, one envelope per decision. */
const history = async (memory: MemoryEventStore, deployments: number) => {
  let state: ProjectState = initialState
  let version = 0
  const record = async (message: Message) => {
    const events = eventsOf(decide(state, message, context))
    const commandId = "commandId" in message ? message.commandId : null
    version = await run(memory.store.append(projectId, version, { commandId, at: 0, events }))
    state = evolveAll(state, events, commandId)
  }
  await record(createProject())
  for (let n = 1; n <= deployments; n++) {
    await record(deploy({ deploymentId: `dep_${n}` }))
    for (let step = nextSteps(state)[0]; step !== undefined; step = nextSteps(state)[0]) await record(successOf(state, step))
  }
  return { state, version }
}

const empty = { commandId: null, at: 0, events: [] }

describe("the in-memory event store", () => {
  it("a new project loads empty at version 0", async () => {
    const loaded = await run(makeMemoryEventStore().store.load("proj_none"))
    expect(loaded).toEqual({ state: initialState, version: 0, envelopesSinceSnapshot: 0 })
  })

  it("an append must name the project's last sequence; sequences run across projects", async () => {
    const memory = makeMemoryEventStore()
    expect(await run(memory.store.append("proj_a", 0, empty))).toBe(1)
    expect(await run(memory.store.append("proj_b", 0, empty))).toBe(2)
    expect(await run(memory.store.append("proj_a", 1, empty))).toBe(3)
    const stale = await run(Effect.either(memory.store.append("proj_a", 1, empty)))
    expect(stale).toMatchObject({ _tag: "Left", left: { _tag: "VersionConflict", projectId: "proj_a", expectedVersion: 1 } })
    expect(memory.log("proj_a").map((e) => [e.seq, e.envelope.previousVersion])).toEqual([[1, 0], [3, 1]])
  })

  it("a rival writer makes the next append conflict, and a reload sees its envelope", async () => {
    const memory = makeMemoryEventStore()
    const { version } = await history(memory, 1)
    memory.rival(projectId, { commandId: "cmd_rival", at: 0, events: [] })
    const conflict = await run(Effect.either(memory.store.append(projectId, version, empty)))
    expect(conflict._tag).toBe("Left")
    const reloaded = await run(memory.store.load(projectId))
    expect(reloaded.version).toBe(version + 1)
    expect(reloaded.state.handledCommands).toContain("cmd_rival")
  })

  it("loads from the snapshot plus the envelopes after it, to the same state as the whole log", async () => {
    const memory = makeMemoryEventStore()
    const first = await history(memory, 1)
    await run(memory.store.saveSnapshot(projectId, first.version, first.state))
    memory.rival(projectId, { commandId: "cmd_late", at: 0, events: [] })
    const loaded = await run(memory.store.load(projectId))
    expect(loaded.envelopesSinceSnapshot).toBe(1)
    expect(loaded.version).toBe(first.version + 1)
    expect(loaded.state).toEqual(evolveAll(first.state, [], "cmd_late"))
  })
})

describe("the in-memory archive", () => {
  const retired = async () => {
    const memory = makeMemoryEventStore()
    const { state, version } = await history(memory, 4)
    const retirement = retire(state, { keep: 2, version, busy: () => false })
    await run(memory.archive.archive(projectId, state, retirement))
    await run(memory.store.saveSnapshot(projectId, version, retirement.state))
    return { memory, full: state, retirement }
  }

  it("holds what a retirement took out; the snapshot loads without it", async () => {
    const { memory, full, retirement } = await retired()
    expect(retirement.retired.map((d) => d.id).sort()).toEqual(["dep_1", "dep_2"])
    expect((await run(memory.store.load(projectId))).state).toEqual(retirement.state)
    expect(await run(memory.archive.archived(projectId, ["dep_2", "dep_nope"]))).toEqual([full.deployments["dep_2"]])
  })

  it("recovers a lost deployment entry from the log and stores it again", async () => {
    const { memory, full } = await retired()
    memory.deployments.clear()
    expect(await run(memory.archive.archived(projectId, ["dep_1"]))).toEqual([full.deployments["dep_1"]])
    expect(memory.deployments.get(`${projectId}.dep_1`)).toEqual(full.deployments["dep_1"])
  })

  it("rebuilds lost retired routes from the log", async () => {
    const { memory, retirement } = await retired()
    memory.routes.clear()
    expect(await run(memory.archive.retiredRoutes(projectId, retirement.state))).toEqual(retirement.routes)
    expect(memory.routes.get(projectId)).toEqual(retirement.routes)
  })
})
