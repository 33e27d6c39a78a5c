/**
 * The actor map and passivation (ActorRegistry): an idle actor is stopped and the next message starts
 * a new one; a message racing the passivation is decided once, by one actor at a time; an actor that
 * fails hands back whatever was waiting for it. Over the in-memory event store with the real project
 * actor, and with a scripted actor where the exact interleaving matters.
 */
import { Deferred, Duration, Effect, Exit, Layer, Option, Queue } from "effect"
import { describe, expect, it } from "vitest"
import { HostnameClaims } from "../../src/adapters/claims/HostnameClaims.js"
import { OpenApiScraper } from "../../src/adapters/openapi/OpenApiScraper.js"
import { RoutingService } from "../../src/adapters/routing/RoutingService.js"
import type { OrchestratorSettings } from "../../src/config.js"
import type { Command } from "../../src/domain/commands.js"
import { makeActorRegistry, type ActorRegistry, type OnStopped, type StartActor } from "../../src/actors/ActorRegistry.js"
import type { MailboxItem, Outcome } from "../../src/actors/mailbox.js"
import { runProjectActor } from "../../src/actors/ProjectActor.js"
import { Archive } from "../../src/eventstore/Archive.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { makeMemoryEventStore, type MemoryEventStore } from "../../src/eventstore/memory/MemoryEventStore.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { fastSettings } from "../support/orchestrator.js"
import { testSecrets } from "../support/secrets.js"
import { createProject, projectId } from "../domain/decider.js"

const idleTimeout = Duration.millis(20)
const settings: OrchestratorSettings = { ...fastSettings, idleTimeout }

/** The in-memory store, counting the appends that found another writer first. */
const doubles = (memory: MemoryEventStore, conflicts: { count: number }) =>
  Layer.mergeAll(
    Layer.succeed(EventStore, {
      ...memory.store,
      append: (project, expected, envelope) =>
        memory.store.append(project, expected, envelope).pipe(Effect.tapError(() => Effect.sync(() => void conflicts.count++)))
    }),
    Layer.succeed(Archive, memory.archive),
    makeFakeKrane().layer,
    testSecrets,
    Layer.succeed(RoutingService, { writeTable: (_table, version) => Effect.succeed(version), readTable: () => Effect.succeed(null) }),
    Layer.succeed(HostnameClaims, { claim: () => Effect.succeed([]) }),
    Layer.succeed(OpenApiScraper, { scrape: () => Effect.succeed({ _tag: "NotFound", reason: "HTTP 404" } as const) })
  )

const ask = (registry: ActorRegistry, command: Command) =>
  Effect.gen(function* () {
    const reply = yield* Deferred.make<Outcome, Error>()
    yield* registry.tell(command.projectId, { kind: "command", command, reply })
    return yield* Deferred.await(reply)
  })

/** Stops other than the interruption of whatever runs when the test ends: none expected. */
const unexpectedStops = () => {
  const stops: Array<string> = []
  const onStopped: OnStopped = (project, exit, left) =>
    Effect.sync(() => {
      if (!Exit.isInterrupted(exit) || left.length > 0) stops.push(`${project}: ${Exit.isFailure(exit) ? exit.cause.toString() : "ended"}, ${left.length} left`)
    })
  return { onStopped, stops }
}

/** Waits (up to 10 s: the machine may be loaded) until `check` holds. */
const eventually = (what: string, check: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 2_000; i++) {
      if (check()) return
      yield* Effect.sleep(Duration.millis(5))
    }
    throw new Error(`never: ${what}`)
  })

const withRegistry = <A, E>(start: StartActor, onStopped: OnStopped, use: (registry: ActorRegistry) => Effect.Effect<A, E>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      return yield* use(yield* makeActorRegistry(settings, scope, start, onStopped))
    }).pipe(Effect.scoped)
  )

describe("the actor registry (passivation) over the in-memory event store", () => {
  it("passivates an idle actor, and commands sent around its passivation are each decided once, by one actor at a time", async () => {
    const memory = makeMemoryEventStore()
    const conflicts = { count: 0 }
    let started = 0
    const start: StartActor = (project, mailbox, idle) =>
      Effect.suspend(() => {
        started++
        return runProjectActor(project, mailbox, settings, { idle, onLoaded: Effect.void, markInFlight: () => Effect.void })
      }).pipe(Effect.provide(doubles(memory, conflicts)))
    const stops = unexpectedStops()
    const outcomes = await withRegistry(start, stops.onStopped, (registry) =>
      Effect.gen(function* () {
        yield* ask(registry, createProject())
        yield* eventually("the idle actor is passivated", () => registry.size() === 0)
        // Gaps below, around and above the idle timeout: some commands meet a parked actor, some one
        // being passivated, some none.
        const outcomes: Array<Outcome> = []
        for (let i = 0; i < 40; i++) {
          yield* Effect.sleep(Duration.millis((i * 7) % 31))
          outcomes.push(yield* ask(registry, { type: "CancelDeployment", commandId: `cmd_cancel_${i}`, projectId, deploymentId: `dep_${i}` }))
        }
        yield* eventually("the last actor is passivated", () => registry.size() === 0)
        return outcomes
      })
    )
    expect(outcomes.map((outcome) => outcome._tag)).toEqual(Array.from({ length: 40 }, () => "Rejected"))
    const commandIds = memory.log(projectId).map((entry) => entry.envelope.commandId)
    expect(commandIds).toEqual(["cmd_create", ...Array.from({ length: 40 }, (_, i) => `cmd_cancel_${i}`)])
    // Two actors deciding at once would have met each other's appends.
    expect(conflicts.count).toBe(0)
    expect(started).toBeGreaterThan(2)
    expect(stops.stops).toEqual([])
  })

  it("keeps an actor whose step is in flight however long it waits", async () => {
    const memory = makeMemoryEventStore()
    const krane = makeFakeKrane()
    krane.neverReady()
    const start: StartActor = (project, mailbox, idle) =>
      runProjectActor(project, mailbox, settings, { idle, onLoaded: Effect.void, markInFlight: () => Effect.void }).pipe(
        Effect.provide(Layer.merge(doubles(memory, { count: 0 }), krane.layer))
      )
    const stops = unexpectedStops()
    await withRegistry(start, stops.onStopped, (registry) =>
      Effect.gen(function* () {
        yield* ask(registry, createProject())
        yield* ask(registry, { type: "Deploy", commandId: "cmd_dep_1", projectId, deploymentId: "dep_1", environmentId: "env_prod", source: { image: "ghcr.io/acme/shop:1" } })
        yield* Effect.sleep(Duration.millis(Duration.toMillis(idleTimeout) * 10))
        expect(registry.size()).toBe(1)
        yield* ask(registry, { type: "CancelDeployment", commandId: "cmd_cancel", projectId, deploymentId: "dep_1" })
        yield* eventually("the actor is passivated once the deployment is compensated", () => registry.size() === 0)
      })
    )
    expect(memory.log(projectId).flatMap((entry) => entry.envelope.events.map((event) => event.type))).toContain("DeploymentCompensated")
    expect(stops.stops).toEqual([])
  })
})

describe("the actor registry with a scripted actor", () => {
  /**
   * An actor that records what it takes, by its generation (1 for the first actor of the project, ...),
   * working `work(n)` on its n-th message; `stoppedBusy` lists the generations that were sent a stop
   * although they had taken a message since they last said they were idle.
   */
  const recording = (taken: Array<{ readonly generation: number; readonly item: MailboxItem }>, work: (n: number) => number = () => 0) => {
    let generations = 0
    let n = 0
    const stoppedBusy: Array<number> = []
    const start: StartActor = (_project, mailbox, idle) =>
      Effect.gen(function* () {
        const generation = ++generations
        let saidIdle = false
        for (;;) {
          if (Option.getOrElse(mailbox.unsafeSize(), () => 0) <= 0) {
            idle()
            saidIdle = true
          }
          const item = yield* Queue.take(mailbox)
          if (item.kind === "stop") {
            if (!saidIdle) stoppedBusy.push(generation)
            return
          }
          saidIdle = false
          yield* Effect.sleep(Duration.millis(work(n++)))
          taken.push({ generation, item })
          if (item.kind === "command") yield* Deferred.succeed(item.reply, { _tag: "Unchanged", version: generation })
        }
      })
    return { start, generations: () => generations, stoppedBusy }
  }

  it("delivers every message to exactly one actor, never to an older actor after a newer one took one, and stops only idle actors", async () => {
    const taken: Array<{ readonly generation: number; readonly item: MailboxItem }> = []
    // Every 10th message takes twice the idle timeout: the idle sweep passes while the actor works.
    const actor = recording(taken, (n) => (n % 10 === 9 ? Duration.toMillis(idleTimeout) * 2 : 0))
    const sent: Array<string> = []
    const stops = unexpectedStops()
    await withRegistry(actor.start, stops.onStopped, (registry) =>
      Effect.gen(function* () {
        for (let i = 0; i < 200; i++) {
          // Bursts and pauses: many deliveries land right as the reaper looks at the actor; half-way,
          // one passivation for sure.
          if (i % 5 === 0) yield* Effect.sleep(Duration.millis((i * 17) % 70))
          if (i === 100) yield* eventually("the actor is passivated half-way", () => registry.size() === 0)
          const commandId = `cmd_${i}`
          sent.push(commandId)
          yield* registry.tell(projectId, { kind: "command", command: createProject({ commandId }), reply: yield* Deferred.make<Outcome, Error>() })
        }
        yield* eventually("every message taken", () => taken.length === sent.length)
      })
    )
    expect(taken.map((entry) => (entry.item.kind === "command" ? entry.item.command.commandId : entry.item.kind))).toEqual(sent)
    const generations = taken.map((entry) => entry.generation)
    expect(generations).toEqual([...generations].sort((a, b) => a - b))
    expect(actor.generations()).toBeGreaterThan(1)
    expect(actor.stoppedBusy).toEqual([])
    expect(stops.stops).toEqual([])
  })

  it("hands the messages waiting for an actor that failed to onStopped, in order, and starts a new actor for the next", async () => {
    const stopped: Array<{ readonly exit: Exit.Exit<void, unknown>; readonly left: ReadonlyArray<MailboxItem> }> = []
    // The second actor is interrupted when the test ends: not what this test is about.
    const onStopped: OnStopped = (_project, exit, left) => Effect.sync(() => void (Exit.isInterrupted(exit) || stopped.push({ exit, left })))
    let starts = 0
    const gate = Effect.runSync(Deferred.make<void>())
    // The first actor fails before taking anything (a load that failed); later ones take and answer.
    const start: StartActor = (project, mailbox, idle) =>
      ++starts === 1 ? Effect.zipRight(Deferred.await(gate), Effect.fail(new Error(`cannot load ${project}`))) : recording([]).start(project, mailbox, idle)
    await withRegistry(start, onStopped, (registry) =>
      Effect.gen(function* () {
        const replies = yield* Effect.forEach([1, 2, 3], () => Deferred.make<Outcome, Error>())
        yield* Effect.forEach(replies, (reply, i) =>
          registry.tell(projectId, { kind: "command", command: createProject({ commandId: `cmd_${i}` }), reply })
        )
        yield* Deferred.succeed(gate, undefined)
        yield* eventually("the failed actor is reported", () => stopped.length === 1)
        expect(registry.isRunning(projectId)).toBe(false)
        expect(yield* ask(registry, createProject())).toEqual({ _tag: "Unchanged", version: 1 })
      })
    )
    expect(stopped).toHaveLength(1)
    expect(Exit.isFailure(stopped[0]?.exit ?? Exit.void)).toBe(true)
    expect(stopped[0]?.left.map((item) => (item.kind === "command" ? item.command.commandId : item.kind))).toEqual(["cmd_0", "cmd_1", "cmd_2"])
  })
})
