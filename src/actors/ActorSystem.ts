/**
 * The actor system: one ProjectActor per project id, spawned on its first message, retired when idle,
 * and resumed at start (and periodically) for every project whose in-flight marker is set, so a new
 * process finishes the deployments an old one left half-way.
 */
import { Kvm, type KV } from "@nats-io/kv"
import { Context, Deferred, Duration, Effect, Layer, Queue, Schedule } from "effect"
import type { OrchestratorSettings } from "../config.js"
import type { Command, CommandHeader } from "../domain/commands.js"
import { EventStore } from "../eventstore/EventStore.js"
import type { RoutingService } from "../adapters/routing/RoutingService.js"
import { Nats, NatsError } from "../eventstore/Nats.js"
import { buckets } from "../eventstore/subjects.js"
import type { MailboxItem, Outcome } from "./mailbox.js"
import { runProjectActor } from "./ProjectActor.js"
import type { StepRequirements } from "./StepRunner.js"

export interface ActorSystemApi {
  /** Enqueues a command (in order, with backpressure) and returns a handle on its outcome. */
  readonly submit: (command: Command) => Effect.Effect<Effect.Effect<Outcome, Error>>
  /** Enqueues the rejection of a command whose body is invalid. */
  readonly submitInvalid: (
    header: CommandHeader,
    code: string,
    message: string
  ) => Effect.Effect<Effect.Effect<Outcome, Error>>
  /** Starts the actors of every project with work in flight; returns how many it woke. */
  readonly resumeInFlight: Effect.Effect<number, NatsError>
  readonly activeActors: Effect.Effect<number>
}

export class ActorSystem extends Context.Tag("berth/ActorSystem")<ActorSystem, ActorSystemApi>() {}

interface ActorEntry {
  readonly queue: Queue.Queue<MailboxItem>
  /** Senders between lookup and enqueue: an actor with pending senders must not retire. */
  pending: number
}

const resumeSweepEvery = Duration.seconds(30)

export const makeActorSystem = (settings: OrchestratorSettings) =>
  Effect.gen(function* () {
    const { nc, publisher } = yield* Nats
    const context = yield* Effect.context<EventStore | RoutingService | StepRequirements>()
    const scope = yield* Effect.scope
    const inflight: KV = yield* Effect.tryPromise({
      try: () => new Kvm(nc).create(buckets.inflight, { history: 1 }),
      catch: (cause) => new NatsError({ operation: "open in-flight bucket", cause })
    })
    const actors = new Map<string, ActorEntry>()
    const lock = yield* Effect.makeSemaphore(1)

    // Two writes per deployment: made as the KV client would (a put, or a delete marker), on the
    // connection's fast publish path.
    const markerData = new TextEncoder().encode("1")
    const deleteMarker = { headers: { "KV-Operation": "DEL" } }
    const markInFlight = (projectId: string, inFlight: boolean) =>
      publisher
        .publish(`$KV.${buckets.inflight}.${projectId}`, inFlight ? markerData : new Uint8Array(0), inFlight ? {} : deleteMarker)
        .pipe(
          Effect.asVoid,
          Effect.catchAll((error) => Effect.logWarning("could not update the in-flight marker", error.message))
        )

    const spawn = (projectId: string) =>
      Effect.gen(function* () {
        const queue = yield* Queue.bounded<MailboxItem>(settings.mailboxCapacity)
        const entry: ActorEntry = { queue, pending: 0 }
        const tryPassivate = lock.withPermits(1)(
          Effect.gen(function* () {
            if (entry.pending > 0 || (yield* Queue.size(queue)) > 0) return false
            actors.delete(projectId)
            return true
          })
        )
        const retire = lock.withPermits(1)(
          Effect.gen(function* () {
            if (actors.get(projectId) === entry) actors.delete(projectId)
            // Whoever still waits on this actor learns it stopped; their commands are redelivered.
            const left = yield* Queue.takeAll(queue)
            for (const item of left) {
              if (item.kind === "command" || item.kind === "invalid") {
                yield* Deferred.fail(item.reply, new Error(`actor for ${projectId} stopped`))
              }
            }
          })
        )
        yield* runProjectActor(projectId, queue, settings, { markInFlight, tryPassivate }).pipe(
          Effect.tapErrorCause((cause) => Effect.logError("project actor stopped", cause)),
          Effect.ensuring(retire),
          Effect.provide(context),
          Effect.forkIn(scope)
        )
        actors.set(projectId, entry)
        return entry
      })

    const tell = (projectId: string, item: MailboxItem) =>
      Effect.gen(function* () {
        const entry = yield* lock.withPermits(1)(
          Effect.gen(function* () {
            const found = actors.get(projectId) ?? (yield* spawn(projectId))
            found.pending++
            return found
          })
        )
        yield* Queue.offer(entry.queue, item).pipe(Effect.ensuring(Effect.sync(() => entry.pending--)))
      })

    const ask = (projectId: string, make: (reply: Deferred.Deferred<Outcome, Error>) => MailboxItem) =>
      Effect.gen(function* () {
        const reply = yield* Deferred.make<Outcome, Error>()
        yield* tell(projectId, make(reply))
        return Deferred.await(reply)
      })

    const resumeInFlight = Effect.gen(function* () {
      const keys = yield* Effect.tryPromise({
        try: async () => {
          const found: Array<string> = []
          for await (const key of await inflight.keys()) found.push(key)
          return found
        },
        catch: (cause) => new NatsError({ operation: "list in-flight projects", cause })
      })
      const sleeping = keys.filter((key) => !actors.has(key))
      yield* Effect.forEach(sleeping, (projectId) => tell(projectId, { kind: "wake" }), { discard: true })
      if (sleeping.length > 0) yield* Effect.logInfo(`resumed ${sleeping.length} project(s) with deployments in flight`)
      return sleeping.length
    })

    yield* resumeInFlight.pipe(
      Effect.catchAll((error) => Effect.logWarning("resume sweep failed", error.message)),
      Effect.repeat(Schedule.spaced(resumeSweepEvery)),
      Effect.forkIn(scope)
    )

    return ActorSystem.of({
      submit: (command) => ask(command.projectId, (reply) => ({ kind: "command", command, reply })),
      submitInvalid: (header, code, message) =>
        ask(header.projectId, (reply) => ({ kind: "invalid", header, code, message, reply })),
      resumeInFlight,
      activeActors: Effect.sync(() => actors.size)
    })
  })

export const ActorSystemLive = (settings: OrchestratorSettings) =>
  Layer.scoped(ActorSystem, makeActorSystem(settings))
