/**
 * The project actor (runProjectActor) over the in-memory EventStore and Archive
 * (src/eventstore/memory/), a fake Krane and in-memory routing and claims: conflict retry, resume of
 * in-flight work, a cancel interrupting a running step, and when it says it is idle (passivation is
 * ActorRegistry's: test/actors/actorRegistry.unit.test.ts), each in milliseconds. The same behaviours
 * over NATS are in the actor integration tests.
 */
import { Deferred, Duration, Effect, Fiber, Layer, Queue } from "effect"
import { describe, expect, it } from "vitest"
import { HostnameClaims } from "../../src/adapters/claims/HostnameClaims.js"
import { OpenApiScraper } from "../../src/adapters/openapi/OpenApiScraper.js"
import { RoutingService } from "../../src/adapters/routing/RoutingService.js"
import type { OrchestratorSettings } from "../../src/config.js"
import type { Command } from "../../src/domain/commands.js"
import { decide } from "../../src/domain/decide.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import { evolveAll, initialState } from "../../src/domain/state.js"
import { ActorUnavailable, type MailboxItem, type Outcome } from "../../src/actors/mailbox.js"
import { runProjectActor } from "../../src/actors/ProjectActor.js"
import { makeMemoryEventStore, MemoryEventStoreLayer, type MemoryEventStore } from "../../src/eventstore/memory/MemoryEventStore.js"
import { makeFakeKrane, type FakeKrane } from "../support/FakeKrane.js"
import { fastSettings } from "../support/orchestrator.js"
import { testSecrets } from "../support/secrets.js"
import { context, createProject, deploy, eventsOf, projectId } from "../domain/decider.js"

const settings: OrchestratorSettings = { ...fastSettings, idleTimeout: Duration.millis(50) }

const doubles = (memory: MemoryEventStore, krane: FakeKrane) =>
  Layer.mergeAll(
    MemoryEventStoreLayer(memory),
    krane.layer,
    testSecrets,
    Layer.succeed(RoutingService, {
      writeTable: (_table, version) => Effect.succeed(version),
      readTable: () => Effect.succeed(null)
    }),
    Layer.succeed(HostnameClaims, { claim: () => Effect.succeed([]) }),
    Layer.succeed(OpenApiScraper, { scrape: () => Effect.succeed({ _tag: "NotFound", reason: "HTTP 404" } as const) })
  )

interface Running {
  readonly ask: (command: Command) => Effect.Effect<Outcome, Error>
  readonly wake: Effect.Effect<void>
  readonly stop: Effect.Effect<void>
  readonly fiber: Fiber.RuntimeFiber<void, unknown>
  readonly inFlight: ReadonlyArray<boolean>
  /** How many times the actor said it was idle. */
  readonly idle: () => number
}

/** Starts the project's actor; `owned` says whether it may decide (its partition's lease, src/partitions/). */
const start = (owned: () => boolean = () => true) =>
  Effect.gen(function* () {
    const mailbox = yield* Queue.unbounded<MailboxItem>()
    const inFlight: Array<boolean> = []
    let idle = 0
    const fiber = yield* Effect.fork(
      runProjectActor(projectId, mailbox, settings, {
        idle: () => void idle++,
        onLoaded: Effect.void,
        markInFlight: (_, flag) => Effect.sync(() => void inFlight.push(flag)),
        ownership: { mayDecide: owned, notOwned: () => new ActorUnavailable({ projectId, message: "partition lost" }) }
      })
    )
    const ask = (command: Command) =>
      Effect.gen(function* () {
        const reply = yield* Deferred.make<Outcome, Error>()
        yield* Queue.offer(mailbox, { kind: "command", command, reply })
        return yield* Deferred.await(reply)
      })
    return {
      ask,
      wake: Queue.offer(mailbox, { kind: "wake" }).pipe(Effect.asVoid),
      stop: Queue.offer(mailbox, { kind: "stop" }).pipe(Effect.asVoid),
      fiber,
      inFlight,
      idle: () => idle
    } satisfies Running
  })

const typesOf = (memory: MemoryEventStore): ReadonlyArray<string> =>
  memory.log(projectId).flatMap((entry) => entry.envelope.events.map((event) => event.type))

/** Waits (bounded) until the log holds an event of `type`. */
const logged = (memory: MemoryEventStore, type: ProjectEvent["type"]) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      if (typesOf(memory).includes(type)) return
      yield* Effect.sleep(Duration.millis(10))
    }
    throw new Error(`no ${type} in ${typesOf(memory).join(", ")}`)
  })

type Doubles = Layer.Layer.Success<ReturnType<typeof doubles>>

const run = <A, E>(memory: MemoryEventStore, krane: FakeKrane, effect: Effect.Effect<A, E, Doubles>) =>
  Effect.runPromise(effect.pipe(Effect.provide(doubles(memory, krane))))

describe("the project actor over the in-memory event store", () => {
  it("stops deciding the moment its partition's lease is gone: the command fails, nothing is appended, no step starts", async () => {
    const memory = makeMemoryEventStore()
    const krane = makeFakeKrane()
    let owned = true
    await Effect.runPromise(
      Effect.gen(function* () {
        const actor = yield* start(() => owned)
        expect(yield* actor.ask(createProject())).toMatchObject({ _tag: "Appended", version: 1 })
        owned = false
        const refused = yield* Effect.either(actor.ask(deploy()))
        expect(refused._tag === "Left" && refused.left.message).toBe("partition lost")
        // The actor ends (the system fails whatever else waits on it; the intake redelivers it).
        const exit = yield* Fiber.await(actor.fiber)
        expect(exit._tag).toBe("Failure")
      }).pipe(Effect.scoped, Effect.provide(doubles(memory, krane)))
    )
    expect(memory.log(projectId).map((e) => e.envelope.commandId)).toEqual(["cmd_create"])
    expect(krane.createCalls).toEqual([])
  })

  it("decides again after another writer appended first (version conflict), and both envelopes stay", async () => {
    const memory = makeMemoryEventStore()
    const krane = makeFakeKrane()
    await Effect.runPromise(
      Effect.gen(function* () {
        const actor = yield* start()
        expect(yield* actor.ask(createProject())).toMatchObject({ _tag: "Appended", version: 1 })
        // Another writer (a second orchestrator, say) appends behind the actor's back.
        memory.rival(projectId, { commandId: "cmd_rival", at: 0, events: [] })
        const outcome = yield* actor.ask(deploy())
        expect(outcome).toMatchObject({ _tag: "Appended", version: 3 })
        expect(memory.log(projectId).map((e) => e.envelope.commandId)).toEqual(["cmd_create", "cmd_rival", "cmd_dep_1"])
        expect(memory.log(projectId)[2]?.envelope.previousVersion).toBe(2)
        yield* logged(memory, "DeploymentReady")
        yield* Fiber.interrupt(actor.fiber)
      }).pipe(Effect.scoped, Effect.provide(doubles(memory, krane)))
    )
    expect(krane.createsFor(`${projectId}--dep_1`)).toBe(1)
  })

  it("resumes a deployment left in flight by a previous process when woken, and clears its marker", async () => {
    const memory = makeMemoryEventStore()
    // What a process recorded before it died: the project and a Deploy, no step result yet.
    let state = initialState
    for (const command of [createProject(), deploy()]) {
      const events = eventsOf(decide(state, command, context))
      await Effect.runPromise(memory.store.append(projectId, memory.log(projectId).at(-1)?.seq ?? 0, { commandId: command.commandId, at: 0, events }))
      state = evolveAll(state, events, command.commandId)
    }
    const krane = makeFakeKrane()
    const inFlight = await run(
      memory,
      krane,
      Effect.gen(function* () {
        const actor = yield* start()
        yield* actor.wake
        yield* logged(memory, "DeploymentReady")
        yield* logged(memory, "LiveSwitched")
        yield* Effect.sleep(Duration.millis(50))
        yield* Fiber.interrupt(actor.fiber)
        return actor.inFlight
      })
    )
    expect(typesOf(memory)).toEqual(
      expect.arrayContaining(["KraneDeploymentCreated", "InstancesObserved", "DomainsAssigned", "DeploymentReady", "LiveSwitched"])
    )
    expect(krane.createsFor(`${projectId}--dep_1`)).toBe(1)
    expect(inFlight[0]).toBe(true)
    expect(inFlight.at(-1)).toBe(false)
  })

  it("records a deployment RUNNING at the first poll in two envelopes: the Deploy, then everything its one step run found", async () => {
    const memory = makeMemoryEventStore()
    const krane = makeFakeKrane()
    await run(
      memory,
      krane,
      Effect.gen(function* () {
        const actor = yield* start()
        yield* actor.ask(createProject())
        yield* actor.ask(deploy())
        yield* logged(memory, "LiveSwitched")
        yield* Fiber.interrupt(actor.fiber)
      })
    )
    expect(memory.log(projectId).map((entry) => entry.envelope.events.map((event) => event.type))).toEqual([
      ["ProjectCreated"],
      ["DeploymentRequested", "DeploymentBuilding"],
      ["KraneDeploymentCreated", "InstancesObserved", "OpenApiSpecNotFound", "DomainsAssigned", "DeploymentReady", "LiveSwitched"]
    ])
    expect(krane.createsFor(`${projectId}--dep_1`)).toBe(1)
    expect(krane.getCalls).toHaveLength(1)
  })

  it("a cancel interrupts the running await-instances step and compensation deletes the Krane deployment", async () => {
    const memory = makeMemoryEventStore()
    const krane = makeFakeKrane()
    krane.neverReady()
    await run(
      memory,
      krane,
      Effect.gen(function* () {
        const actor = yield* start()
        yield* actor.ask(createProject())
        yield* actor.ask(deploy())
        yield* logged(memory, "KraneDeploymentCreated")
        const cancelled = yield* actor.ask({ type: "CancelDeployment", commandId: "cmd_cancel", projectId, deploymentId: "dep_1" })
        expect(cancelled._tag).toBe("Appended")
        yield* logged(memory, "DeploymentCompensated")
        const polls = krane.getCalls.length
        yield* Effect.sleep(Duration.millis(100))
        // The await step no longer polls Krane once cancelled.
        expect(krane.getCalls.length).toBe(polls)
        yield* Fiber.interrupt(actor.fiber)
      })
    )
    const cancel = memory.log(projectId).flatMap((e) => e.envelope.events).find((e) => e.type === "DeploymentCancelled")
    expect(cancel).toMatchObject({ step: "await-instances" })
    expect(typesOf(memory)).not.toContain("DeploymentReady")
    expect(krane.deleteCalls.length).toBe(1)
  })

  it("says it is idle only with nothing in flight, ends at a stop, and a new actor picks up from the log", async () => {
    const memory = makeMemoryEventStore()
    const krane = makeFakeKrane()
    krane.neverReady()
    await run(
      memory,
      krane,
      Effect.gen(function* () {
        const first = yield* start()
        yield* first.ask(createProject())
        expect(first.idle()).toBeGreaterThan(0)
        yield* first.ask(deploy())
        yield* logged(memory, "KraneDeploymentCreated")
        // Waiting for instances: a step will report, so the actor is not idle however long it waits.
        const before = first.idle()
        yield* Effect.sleep(Duration.millis(100))
        expect(first.idle()).toBe(before)
        yield* first.ask({ type: "CancelDeployment", commandId: "cmd_cancel", projectId, deploymentId: "dep_1" })
        yield* logged(memory, "DeploymentCompensated")
        yield* Effect.sleep(Duration.millis(50))
        expect(first.idle()).toBeGreaterThan(before)
        yield* first.stop
        const exit = yield* Fiber.await(first.fiber).pipe(Effect.timeout(Duration.seconds(5)))
        expect(exit._tag).toBe("Success")
        const second = yield* start()
        expect(yield* second.ask(createProject())).toMatchObject({ _tag: "Unchanged" })
        expect(yield* second.ask(deploy({ deploymentId: "dep_2" }))).toMatchObject({ _tag: "Appended" })
        yield* Fiber.interrupt(second.fiber)
      })
    )
  })
})
