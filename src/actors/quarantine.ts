/**
 * Quarantine: a project whose event log cannot be decoded (EventStore.load fails with CorruptEvent).
 * Its commands are rejected (`project_unavailable`) instead of being redelivered forever, other
 * projects carry on, and the next command after `quarantineRetry` loads the project again: once the
 * log decodes (the corrupt message deleted, an upcaster shipped) the quarantine lifts by itself.
 *
 * The state is visible in KV `berth_quarantine` (projectId -> {reason, since, seq}), deleted when
 * lifted. `openQuarantineBucket` + `readQuarantine` / `quarantineOf` are the readers for the API.
 * It never decides anything: the actor system asks it whether a project is blocked.
 */
import type { KV } from "@nats-io/kv"
import { Clock, Duration, Effect, Either, Option, Schema } from "effect"
import type { CorruptEvent } from "../eventstore/EventStore.js"
import { openKv } from "../nats/buckets.js"
import { NatsError, type NatsService } from "../nats/Nats.js"
import { buckets } from "../nats/subjects.js"

export const QuarantineEntry = Schema.Struct({
  /** What failed, e.g. "event at stream sequence 17 cannot be decoded: …". */
  reason: Schema.String,
  /** Epoch ms of the first failed load of this quarantine. */
  since: Schema.Number,
  /** The stream sequence of the envelope that cannot be decoded. */
  seq: Schema.optional(Schema.Number)
})
export type QuarantineEntry = typeof QuarantineEntry.Type

export interface QuarantinedProject extends QuarantineEntry {
  readonly projectId: string
}

const decodeEntry = Schema.decodeUnknownEither(Schema.parseJson(QuarantineEntry))

/** Opens the quarantine bucket (created when missing by the orchestrator, waited for by the API). */
export const openQuarantineBucket = (nats: Pick<NatsService, "nc" | "jsm" | "streams">): Effect.Effect<KV, NatsError> =>
  openKv(nats, buckets.quarantine, { history: 1 })

/** The quarantine of one project, if any (for the API's project view or /readyz). */
export const quarantineOf = (kv: KV, projectId: string): Effect.Effect<Option.Option<QuarantineEntry>, NatsError> =>
  Effect.tryPromise({
    try: () => kv.get(projectId),
    catch: (cause) => new NatsError({ operation: "read quarantine", cause })
  }).pipe(
    Effect.map((entry) => {
      if (entry === null || entry.operation !== "PUT") return Option.none()
      return Either.getRight(decodeEntry(entry.string()))
    })
  )

/** Every quarantined project (an unreadable entry is left out). */
export const readQuarantine = (kv: KV): Effect.Effect<ReadonlyArray<QuarantinedProject>, NatsError> =>
  Effect.tryPromise({
    try: async () => {
      const keys: Array<string> = []
      for await (const key of await kv.keys()) keys.push(key)
      return keys
    },
    catch: (cause) => new NatsError({ operation: "list quarantined projects", cause })
  }).pipe(
    Effect.flatMap((keys) =>
      Effect.forEach(keys, (projectId) =>
        quarantineOf(kv, projectId).pipe(Effect.map(Option.map((entry): QuarantinedProject => ({ projectId, ...entry }))))
      )
    ),
    Effect.map((found) => found.flatMap(Option.toArray))
  )

/** The reason a CorruptEvent gives, in words a publisher can act on. */
export const corruptionReason = (error: CorruptEvent): string =>
  `its event log cannot be decoded: the envelope at stream sequence ${error.seq} of berth.evt.${error.projectId} ` +
  `failed: ${error.message.replace(/\s+/g, " ").slice(0, 500)}`

export interface Quarantine {
  /**
   * The quarantine that blocks this project now, or none: none also when it is quarantined but its
   * retry is due (the retry is then booked, so one caller retries the load and the others wait).
   */
  readonly blocking: (projectId: string) => Effect.Effect<Option.Option<QuarantineEntry>>
  readonly isQuarantined: (projectId: string) => boolean
  /** Quarantines the project (idempotent; the first failure's `since` is kept). */
  readonly mark: (error: CorruptEvent) => Effect.Effect<QuarantineEntry>
  /** The project loaded: lifts its quarantine, if any. */
  readonly lift: (projectId: string) => Effect.Effect<void>
  readonly size: Effect.Effect<number>
}

interface Held {
  entry: QuarantineEntry
  retryAt: number
}

/** The running quarantine: in memory, mirrored to the bucket; entries left by a previous process retry at once. */
export const makeQuarantine = (kv: KV, retryAfter: Duration.Duration): Effect.Effect<Quarantine, NatsError> =>
  Effect.gen(function* () {
    const held = new Map<string, Held>()
    for (const project of yield* readQuarantine(kv)) {
      const { projectId, ...entry } = project
      held.set(projectId, { entry, retryAt: 0 })
    }
    const retryMs = Duration.toMillis(retryAfter)

    const write = (projectId: string, entry: QuarantineEntry) =>
      Effect.tryPromise({
        try: () => kv.put(projectId, JSON.stringify(entry)),
        catch: (cause) => new NatsError({ operation: "write quarantine", cause })
      }).pipe(Effect.catchAll((error) => Effect.logWarning("could not record the quarantine", error.message)))

    const remove = (projectId: string) =>
      Effect.tryPromise({
        try: () => kv.delete(projectId),
        catch: (cause) => new NatsError({ operation: "lift quarantine", cause })
      }).pipe(Effect.catchAll((error) => Effect.logWarning("could not delete the quarantine entry", error.message)))

    const blocking = (projectId: string) =>
      Effect.gen(function* () {
        const found = held.get(projectId)
        if (found === undefined) return Option.none()
        const now = yield* Clock.currentTimeMillis
        if (now < found.retryAt) return Option.some(found.entry)
        found.retryAt = now + retryMs
        return Option.none()
      })

    const mark = (error: CorruptEvent) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const reason = corruptionReason(error)
        const found = held.get(error.projectId)
        if (found !== undefined && found.entry.reason === reason && found.entry.seq === error.seq) {
          found.retryAt = Math.max(found.retryAt, now + retryMs)
          return found.entry
        }
        const entry: QuarantineEntry = { reason, since: found?.entry.since ?? now, seq: error.seq }
        held.set(error.projectId, { entry, retryAt: now + retryMs })
        yield* Effect.logWarning("project quarantined: its event log cannot be decoded").pipe(
          Effect.annotateLogs({ projectId: error.projectId, seq: error.seq, reason })
        )
        yield* write(error.projectId, entry)
        return entry
      })

    const lift = (projectId: string) =>
      held.has(projectId)
        ? Effect.suspend(() => {
            held.delete(projectId)
            return Effect.logInfo("project quarantine lifted: its event log decodes again").pipe(
              Effect.annotateLogs({ projectId }),
              Effect.zipRight(remove(projectId))
            )
          })
        : Effect.void

    return {
      blocking,
      isQuarantined: (projectId) => held.has(projectId),
      mark,
      lift,
      size: Effect.sync(() => held.size)
    }
  })
