/**
 * The running project actors: one mailbox per project id, its actor started on the first message and
 * stopped when idle (passivation), each actor's way out in one place. Knows nothing about what an
 * actor does (ProjectActor) or why one failed (ActorSystem).
 *
 * Why a message is never lost and two actors never decide for one project at once:
 * - The map and every mailbox change only under one lock: a delivery, a passivation and an actor's
 *   exit each take it, so each sees the others as done or not started.
 * - An actor is passivated only when it has been parked for `idleTimeout` on an empty mailbox with no
 *   step in flight (it says so with `idle`; every delivery clears it). Under the lock it leaves the
 *   map and a `stop` is put in its mailbox, which it takes next: nothing else can reach that mailbox
 *   any more, and the next message for the project starts a new actor, which loads the log.
 * - When an actor ends for any other reason (a failed load, a corrupt log), its mailbox is closed under
 *   the lock and whatever was waiting in it is handed to `onStopped`, so every sender hears why.
 *
 * Delivery never waits on a project: into the mailbox when there is room, else into the project's own
 * overflow line (in order) for at most `mailboxOfferTimeout`, after which it and everything behind it
 * fail with MailboxBusy.
 */
import { Deferred, Duration, Effect, Exit, Fiber, Option, Queue, Schedule, type Scope } from "effect"
import type { OrchestratorSettings } from "../config.js"
import { MailboxBusy, type MailboxItem } from "./mailbox.js"

/** Runs one project's actor until it takes `stop` from its mailbox, or fails. */
export type StartActor = (
  projectId: string,
  mailbox: Queue.Queue<MailboxItem>,
  /** The actor is parked on an empty mailbox with nothing in flight (it may be passivated). */
  idle: () => void
) => Effect.Effect<void, unknown>

/** An actor ended other than by passivation (or its mailbox was closed): `left` had not been taken. */
export type OnStopped = (projectId: string, exit: Exit.Exit<void, unknown>, left: ReadonlyArray<MailboxItem>) => Effect.Effect<void>

export interface ActorRegistry {
  /** Delivers to the project's actor, starting it when none runs; never blocks. */
  readonly tell: (projectId: string, item: MailboxItem) => Effect.Effect<void>
  readonly isRunning: (projectId: string) => boolean
  readonly size: () => number
  /**
   * Stops the actors of the projects `which` selects (a partition handed over), steps included: once
   * their mailboxes are empty, or after `drain` at the latest. What is left goes to `onStopped`.
   */
  readonly stopWhere: (which: (projectId: string) => boolean, drain: Duration.Duration) => Effect.Effect<number>
}

interface Entry {
  readonly projectId: string
  readonly queue: Queue.Queue<MailboxItem>
  /** Messages waiting for room in the mailbox, in arrival order (drained by one fiber). */
  readonly overflow: Array<MailboxItem>
  draining: boolean
  /** Since when the actor has been parked with nothing to do; undefined once anything is delivered. */
  idleSince: number | undefined
  closed: boolean
  fiber?: Fiber.RuntimeFiber<void, unknown>
}

/** How often idle actors are looked for: a fraction of the idle timeout, at most every 5 s. */
const reapEvery = (idleTimeout: Duration.Duration) => Duration.millis(Math.min(5_000, Math.max(10, Duration.toMillis(idleTimeout) / 4)))

const failItem = (item: MailboxItem, error: Error) =>
  item.kind === "command" || item.kind === "invalid" ? Deferred.fail(item.reply, error) : Effect.void

const isEmpty = (entry: Entry) => entry.overflow.length === 0 && Option.getOrElse(entry.queue.unsafeSize(), () => 0) <= 0

export const makeActorRegistry = (
  settings: OrchestratorSettings,
  scope: Scope.Scope,
  start: StartActor,
  onStopped: OnStopped
): Effect.Effect<ActorRegistry> =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    const actors = new Map<string, Entry>()
    const lock = yield* Effect.makeSemaphore(1)
    const offerTimeoutMs = Duration.toMillis(settings.mailboxOfferTimeout)

    /** Takes the entry out of the map (if still there) and closes its mailbox; what it held. Under the lock. */
    const close = (entry: Entry) =>
      Effect.gen(function* () {
        if (entry.closed) return []
        entry.closed = true
        if (actors.get(entry.projectId) === entry) actors.delete(entry.projectId)
        const queued = yield* Queue.takeAll(entry.queue)
        const waiting = entry.overflow.splice(0)
        // A drainer blocked on this mailbox is interrupted; no message can enter it any more.
        yield* Queue.shutdown(entry.queue)
        return [...queued, ...waiting]
      })

    const spawn = (projectId: string) =>
      Effect.gen(function* () {
        const queue = yield* Queue.bounded<MailboxItem>(settings.mailboxCapacity)
        const entry: Entry = { projectId, queue, overflow: [], draining: false, idleSince: undefined, closed: false }
        const idle = () => {
          entry.idleSince = clock.unsafeCurrentTimeMillis()
        }
        entry.fiber = yield* start(projectId, queue, idle).pipe(
          Effect.onExit((exit) =>
            Effect.flatMap(lock.withPermits(1)(close(entry)), (left) =>
              Exit.isSuccess(exit) && left.length === 0 ? Effect.void : onStopped(projectId, exit, left)
            )
          ),
          Effect.forkIn(scope)
        )
        actors.set(projectId, entry)
        return entry
      })

    /** The next message waiting for room; clears `draining` in the same step when there is none. */
    const nextWaiting = (entry: Entry) =>
      Effect.sync(() => {
        const head = entry.overflow[0]
        if (head === undefined) entry.draining = false
        return head
      })

    const drain = (entry: Entry) =>
      Effect.gen(function* () {
        for (;;) {
          const item = yield* nextWaiting(entry)
          if (item === undefined) return
          const offered = yield* Queue.offer(entry.queue, item).pipe(Effect.timeout(settings.mailboxOfferTimeout), Effect.option)
          if (Option.isSome(offered)) {
            if (entry.overflow[0] === item) entry.overflow.shift()
            continue
          }
          // Everything behind it waits on the same project: all of it comes back later, in order.
          const dropped = entry.overflow.splice(0)
          const error = new MailboxBusy({
            projectId: entry.projectId,
            message: `project ${entry.projectId} is busy: its mailbox stayed full for ${offerTimeoutMs} ms`
          })
          yield* Effect.logWarning("project mailbox full; its commands will be redelivered").pipe(
            Effect.annotateLogs({ projectId: entry.projectId, commands: dropped.length })
          )
          yield* Effect.forEach(dropped, (waiting) => failItem(waiting, error), { discard: true })
        }
      })

    const tell = (projectId: string, item: MailboxItem) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const entry = actors.get(projectId) ?? (yield* spawn(projectId))
          entry.idleSince = undefined
          if (entry.overflow.length === 0 && Queue.unsafeOffer(entry.queue, item)) return
          // A wake only needs the actor running, which it is.
          if (item.kind === "wake") return
          entry.overflow.push(item)
          if (!entry.draining) {
            entry.draining = true
            yield* Effect.forkIn(drain(entry), scope)
          }
        })
      )

    /** Stops every actor idle for the idle timeout (read at each pass, so a changed setting applies). */
    const passivateIdle = lock.withPermits(1)(
      Effect.sync(() => {
        const now = clock.unsafeCurrentTimeMillis()
        const idleMs = Duration.toMillis(settings.idleTimeout)
        for (const [projectId, entry] of actors) {
          if (entry.idleSince === undefined || now - entry.idleSince < idleMs || !isEmpty(entry)) continue
          actors.delete(projectId)
          Queue.unsafeOffer(entry.queue, { kind: "stop" })
        }
      })
    )
    yield* Effect.suspend(() => Effect.sleep(reapEvery(settings.idleTimeout))).pipe(
      Effect.zipRight(passivateIdle),
      Effect.forever,
      Effect.forkIn(scope)
    )

    const stopWhere = (which: (projectId: string) => boolean, drain: Duration.Duration) =>
      Effect.gen(function* () {
        const stopping = [...actors.values()].filter((entry) => which(entry.projectId))
        yield* Effect.sync(() => stopping.every(isEmpty)).pipe(
          Effect.repeat({ until: (empty) => empty, schedule: Schedule.spaced(Duration.millis(20)) }),
          Effect.timeout(drain),
          Effect.ignore
        )
        yield* Effect.forEach(stopping, (entry) => (entry.fiber === undefined ? Effect.void : Fiber.interrupt(entry.fiber)), {
          concurrency: "unbounded",
          discard: true
        })
        return stopping.length
      })

    return {
      tell,
      isRunning: (projectId) => actors.has(projectId),
      size: () => actors.size,
      stopWhere
    }
  })
