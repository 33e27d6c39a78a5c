/**
 * The actor system: one ProjectActor per project id (started on its first message and passivated when
 * idle by ActorRegistry), resumed at start (and periodically) for every project whose in-flight marker
 * is set, so a new process finishes the deployments an old one left half-way.
 *
 * Nobody waits on a project for long (ActorRegistry): a command that finds its project's mailbox full
 * for `mailboxOfferTimeout` fails with MailboxBusy, and the intake nak's it (redelivered later).
 * A project whose log cannot be decoded is quarantined (quarantine.ts): its commands are rejected
 * with `project_unavailable` until a later load succeeds.
 */
import { Kvm, type KV } from "@nats-io/kv"
import { Cause, Context, Deferred, Duration, Effect, Exit, Layer, Option, type Queue, Schedule } from "effect"
import type { OrchestratorSettings } from "../config.js"
import type { Command, CommandHeader } from "../domain/commands.js"
import type { Archive } from "../eventstore/Archive.js"
import { CorruptEvent, EventStore } from "../eventstore/EventStore.js"
import type { RoutingService } from "../adapters/routing/RoutingService.js"
import { makeDirectReader } from "../nats/DirectReader.js"
import { Nats, NatsError } from "../nats/Nats.js"
import { buckets } from "../nats/subjects.js"
import { makeDirectRejection } from "./directRejection.js"
import { makeActorRegistry } from "./ActorRegistry.js"
import { ActorUnavailable, type MailboxItem, type Outcome } from "./mailbox.js"
import { runProjectActor } from "./ProjectActor.js"
import { makeQuarantine, openQuarantineBucket, type QuarantineEntry } from "./quarantine.js"
import type { HostnameClaims } from "../adapters/claims/HostnameClaims.js"
import type { StepRequirements } from "./StepRunner.js"
import { ProjectOwnership } from "../partitions/Ownership.js"

export interface ActorSystemApi {
  /** Enqueues a command (in order, waiting a bounded time for room) and returns a handle on its outcome. */
  readonly submit: (command: Command, actor?: string) => Effect.Effect<Effect.Effect<Outcome, Error>>
  /** Enqueues the rejection of a command whose body is invalid. */
  readonly submitInvalid: (
    header: CommandHeader,
    code: string,
    message: string,
    actor?: string
  ) => Effect.Effect<Effect.Effect<Outcome, Error>>
  /** Records a CommandRejected without the project's actor (a command that exhausted its deliveries). */
  readonly recordRejection: (header: CommandHeader, code: string, message: string) => Effect.Effect<Outcome, Error>
  /** Starts the actors of every project with work in flight; returns how many it woke. */
  readonly resumeInFlight: Effect.Effect<number, NatsError>
  /** The same for the projects `which` selects (a partition just taken over). */
  readonly resumeInFlightOf: (which: (projectId: string) => boolean) => Effect.Effect<number, NatsError>
  /**
   * Stops the actors of the projects `which` selects, steps included: after their mailboxes empty
   * (at most `drain`), or at once. Whatever still waits on them is failed (its command redelivered).
   */
  readonly stopActors: (which: (projectId: string) => boolean, drain: Duration.Duration) => Effect.Effect<number>
  readonly activeActors: Effect.Effect<number>
  readonly quarantinedProjects: Effect.Effect<number>
}

export class ActorSystem extends Context.Tag("berth/ActorSystem")<ActorSystem, ActorSystemApi>() {}

const resumeSweepEvery = Duration.seconds(30)
const markerClearEvery = Duration.seconds(2)

const failItem = (item: MailboxItem, error: Error) =>
  item.kind === "command" || item.kind === "invalid" ? Deferred.fail(item.reply, error) : Effect.void

const isCorruptEvent = (error: Error): error is CorruptEvent => error instanceof CorruptEvent

export const makeActorSystem = (settings: OrchestratorSettings) =>
  Effect.gen(function* () {
    const { nc, inbox, publisher, replication } = yield* Nats
    const store = yield* EventStore
    const scope = yield* Effect.scope
    const inflight: KV = yield* Effect.tryPromise({
      try: () => new Kvm(nc).create(buckets.inflight, { history: 1, replicas: replication.replicas }),
      catch: (cause) => new NatsError({ operation: "open in-flight bucket", cause })
    })
    const quarantine = yield* makeQuarantine(yield* openQuarantineBucket(yield* Nats), settings.quarantineRetry)
    const recordRejection = makeDirectRejection(store, makeDirectReader(inbox))
    const context = yield* Effect.context<EventStore | Archive | RoutingService | HostnameClaims | StepRequirements>()

    // Partitioned, only the projects of the partitions whose lease this process holds (src/partitions/).
    const ownership = yield* Effect.serviceOption(ProjectOwnership)
    const mayDecide = Option.match(ownership, { onNone: () => () => true, onSome: (owned) => owned.mayDecide })
    const partitioned = Option.exists(ownership, (owned) => owned.partitioning._tag !== "Off")

    /**
     * In-flight markers, written as the KV client would (a put, or a delete marker) on the fast publish
     * path. A set is written before the project's steps start (the actor waits for it: a process that
     * dies must leave it behind). A clear waits for the next clear sweep (markerClearEvery), and a
     * project that has work again before then keeps its marker without a write: a project deployed to
     * again and again writes its marker once, not twice per deployment, and its later sets leave the
     * deploy's path. The sweep clears only projects this process may still decide (a partition that
     * moved on is its new owner's to mark). A marker left set a little longer only makes a resume
     * sweep elsewhere wake a project with nothing to do, which clears it. Partitioned, every set is
     * written: another owner may have cleared the marker while the partition was away.
     */
    const markerData = new TextEncoder().encode("1")
    const deleteMarker = { headers: { "KV-Operation": "DEL" } }
    const writeMarker = (projectId: string, inFlight: boolean) =>
      publisher
        .publish(`$KV.${buckets.inflight}.${projectId}`, inFlight ? markerData : new Uint8Array(0), inFlight ? {} : deleteMarker)
        .pipe(
          Effect.asVoid,
          Effect.catchAll((error) => Effect.logWarning("could not update the in-flight marker", error.message))
        )
    /** Markers this process wrote and has not cleared since. */
    const marked = new Set<string>()
    /** Clears waiting for the sweep. */
    const clearing = new Set<string>()
    const markInFlight = (projectId: string, inFlight: boolean) =>
      Effect.suspend(() => {
        if (!inFlight) {
          clearing.add(projectId)
          return Effect.void
        }
        const stillSet = clearing.delete(projectId) && marked.has(projectId) && !partitioned
        if (stillSet) return Effect.void
        return Effect.tap(writeMarker(projectId, true), () => Effect.sync(() => marked.add(projectId)))
      })
    const clearMarkers = Effect.suspend(() => {
      const due = [...clearing]
      clearing.clear()
      for (const projectId of due) marked.delete(projectId)
      return Effect.forEach(
        due.filter((projectId) => mayDecide(projectId)),
        (projectId) => writeMarker(projectId, false),
        { concurrency: "unbounded", discard: true }
      )
    })
    yield* clearMarkers.pipe(Effect.repeat(Schedule.spaced(markerClearEvery)), Effect.forkIn(scope))

    /** Why the actor stopped, as its waiting senders will see it. */
    const stopReason = (projectId: string, exit: Exit.Exit<unknown, unknown>): Error => {
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure) && (failure.value instanceof CorruptEvent || failure.value instanceof ActorUnavailable)) {
          return failure.value
        }
      }
      return new ActorUnavailable({ projectId, message: `the actor of ${projectId} stopped before deciding` })
    }

    const notOwned = (projectId: string) =>
      new ActorUnavailable({ projectId, message: `this orchestrator does not hold the partition of project ${projectId} (now or any more)` })

    const startActor = (projectId: string, mailbox: Queue.Queue<MailboxItem>, idle: () => void) =>
      runProjectActor(projectId, mailbox, settings, {
        markInFlight,
        idle,
        onLoaded: quarantine.lift(projectId),
        ownership: { mayDecide: () => mayDecide(projectId), notOwned: () => notOwned(projectId) }
      }).pipe(
        Effect.tapErrorCause((cause) =>
          Cause.failureOption(cause).pipe(Option.exists((error) => error instanceof CorruptEvent)) || Cause.isInterruptedOnly(cause)
            ? Effect.void
            : Effect.logError("project actor stopped", cause)
        ),
        Effect.provide(context)
      )

    // Whoever still waits on a stopped actor learns why; their commands are redelivered (or, for a
    // quarantined project, rejected by the handle `ask` returned).
    const onStopped = (projectId: string, exit: Exit.Exit<void, unknown>, left: ReadonlyArray<MailboxItem>) =>
      Effect.gen(function* () {
        const reason = stopReason(projectId, exit)
        if (reason instanceof CorruptEvent) yield* quarantine.mark(reason)
        yield* Effect.forEach(left, (item) => failItem(item, reason), { discard: true })
      })

    const actors = yield* makeActorRegistry(settings, scope, startActor, onStopped)
    const tell = actors.tell

    const ask = (
      header: CommandHeader,
      make: (reply: Deferred.Deferred<Outcome, Error>) => MailboxItem,
      whenUnavailable: (entry: QuarantineEntry) => Effect.Effect<Outcome, Error>
    ) =>
      Effect.gen(function* () {
        const projectId = header.projectId
        // The partition changed hands since the intake took the command: the next owner decides it.
        if (!mayDecide(projectId)) return Effect.fail(notOwned(projectId))
        if (!actors.isRunning(projectId)) {
          const blocked = yield* quarantine.blocking(projectId)
          if (Option.isSome(blocked)) return whenUnavailable(blocked.value)
        }
        const reply = yield* Deferred.make<Outcome, Error>()
        yield* tell(projectId, make(reply))
        return Deferred.await(reply).pipe(
          Effect.catchIf(isCorruptEvent, (error) => Effect.flatMap(quarantine.mark(error), whenUnavailable))
        )
      })

    const unavailable = (header: CommandHeader) => (entry: QuarantineEntry) =>
      recordRejection(
        header,
        "project_unavailable",
        `project ${header.projectId} is unavailable: ${entry.reason}; its commands are rejected until the log is repaired`
      )

    const resumeInFlightOf = (which: (projectId: string) => boolean) => Effect.gen(function* () {
      const keys = yield* Effect.tryPromise({
        try: async () => {
          const found: Array<string> = []
          for await (const key of await inflight.keys()) found.push(key)
          return found
        },
        catch: (cause) => new NatsError({ operation: "list in-flight projects", cause })
      })
      const sleeping: Array<string> = []
      for (const key of keys) {
        // A clear waiting for its sweep: the project finished its work here.
        if (actors.isRunning(key) || clearing.has(key) || !which(key) || !mayDecide(key)) continue
        // A quarantined project is tried again only when its retry is due.
        if (quarantine.isQuarantined(key) && Option.isSome(yield* quarantine.blocking(key))) continue
        sleeping.push(key)
      }
      yield* Effect.forEach(sleeping, (projectId) => tell(projectId, { kind: "wake" }), { discard: true })
      if (sleeping.length > 0) yield* Effect.logInfo(`resumed ${sleeping.length} project(s) with deployments in flight`)
      return sleeping.length
    })
    const resumeInFlight = resumeInFlightOf(() => true)

    yield* resumeInFlight.pipe(
      // Listing the markers makes a consumer, which a cluster with a node down may leave unanswered
      // (nats-server 2.9 places it on any server of the bucket's group): tried again soon, not in 30 s.
      Effect.retry({ times: 4, schedule: Schedule.spaced(Duration.seconds(2)) }),
      Effect.catchAll((error) => Effect.logWarning("resume sweep failed", error.message)),
      Effect.repeat(Schedule.spaced(resumeSweepEvery)),
      Effect.forkIn(scope)
    )

    return ActorSystem.of({
      submit: (command, actor) =>
        ask(command, (reply) => ({ kind: "command", command, ...(actor === undefined ? {} : { actor }), reply }), unavailable(command)),
      submitInvalid: (header, code, message, actor) =>
        ask(
          header,
          (reply) => ({ kind: "invalid", header, code, message, ...(actor === undefined ? {} : { actor }), reply }),
          // Its own rejection needs no state: recorded as it would have been.
          () => recordRejection(header, code, message)
        ),
      recordRejection,
      resumeInFlight,
      resumeInFlightOf,
      stopActors: actors.stopWhere,
      activeActors: Effect.sync(actors.size),
      quarantinedProjects: quarantine.size
    })
  })

export const ActorSystemLive = (settings: OrchestratorSettings) =>
  Layer.scoped(ActorSystem, makeActorSystem(settings))
