/**
 * The JetStream event store: one subject per project, one message per decision.
 * Append = one publish with the expected last subject sequence (optimistic concurrency).
 * Load = snapshot (when present) + the envelopes after it, folded with `evolve`.
 */
import { JetStreamApiCodes, JetStreamApiError, type JsMsg } from "@nats-io/jetstream"
import { Kvm, type KV } from "@nats-io/kv"
import { Context, Data, Effect, Layer, Option, Schema } from "effect"
import { EventEnvelope } from "../domain/events.js"
import { evolveAll, initialState, type ProjectState } from "../domain/state.js"
import { Nats, NatsError } from "./Nats.js"
import { buckets, streams, subjects } from "./subjects.js"

/** Another writer appended to the project first: reload and decide again. */
export class VersionConflict extends Data.TaggedError("VersionConflict")<{
  readonly projectId: string
  readonly expectedVersion: number
}> {}

/** A stored envelope that this code cannot read: the log needs an upcaster, not a retry. */
export class CorruptEvent extends Data.TaggedError("CorruptEvent")<{
  readonly projectId: string
  readonly seq: number
  readonly message: string
}> {}

export interface LoadedProject {
  readonly state: ProjectState
  /** Stream sequence of the project's last envelope; 0 for a project with no events. */
  readonly version: number
  readonly envelopesSinceSnapshot: number
}

export type NewEnvelope = Omit<EventEnvelope, "v" | "previousVersion" | "projectId">

export interface EventStoreService {
  readonly load: (projectId: string) => Effect.Effect<LoadedProject, NatsError | CorruptEvent>
  readonly append: (
    projectId: string,
    expectedVersion: number,
    envelope: NewEnvelope
  ) => Effect.Effect<number, VersionConflict | NatsError>
  readonly saveSnapshot: (projectId: string, version: number, state: ProjectState) => Effect.Effect<void, NatsError>
}

export class EventStore extends Context.Tag("berth/EventStore")<EventStore, EventStoreService>() {}

/** Bumped whenever ProjectState's shape changes: older snapshots are then ignored and the log replayed. */
const snapshotFormat = 1

const Snapshot = Schema.Struct({ format: Schema.Number, version: Schema.Number, state: Schema.Unknown })

const decodeEnvelope = Schema.decodeUnknownEither(Schema.parseJson(EventEnvelope))
const encoder = new TextEncoder()

const isWrongLastSequence = (error: unknown): boolean =>
  error instanceof JetStreamApiError &&
  (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
    error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)

export const makeEventStore = Effect.gen(function* () {
  const { js, jsm, nc } = yield* Nats
  const snapshots: KV = yield* Effect.tryPromise({
    try: () => new Kvm(nc).create(buckets.snapshots, { history: 1 }),
    catch: (cause) => new NatsError({ operation: "open snapshot bucket", cause })
  })

  const readSnapshot = (projectId: string) =>
    Effect.tryPromise({
      try: () => snapshots.get(projectId),
      catch: (cause) => new NatsError({ operation: "read snapshot", cause })
    }).pipe(
      Effect.map((entry) => {
        if (entry === null || entry.operation !== "PUT") return Option.none()
        const decoded = Schema.decodeUnknownOption(Schema.parseJson(Snapshot))(entry.string())
        return Option.filter(decoded, (snapshot) => snapshot.format === snapshotFormat)
      })
    )

  /** The sequence of the subject's last message: one direct get. */
  const headOf = (projectId: string) =>
    Effect.tryPromise({
      try: () => jsm.direct.getMessage(streams.events, { last_by_subj: subjects.events(projectId) }),
      catch: (cause) => new NatsError({ operation: "read project head", cause })
    }).pipe(Effect.map((message) => message?.seq ?? 0))

  const readAfter = (projectId: string, after: number, head: number) =>
    Effect.tryPromise({
      try: async () => {
        const raw: Array<{ seq: number; data: string }> = []
        if (head <= after) return raw
        const consumer = await js.consumers.get(streams.events, {
          filter_subjects: subjects.events(projectId),
          opt_start_seq: after + 1
        })
        const messages = await consumer.consume()
        try {
          for await (const message of messages as AsyncIterable<JsMsg>) {
            raw.push({ seq: message.seq, data: message.string() })
            if (message.seq >= head) break
          }
        } finally {
          await messages.close()
        }
        return raw
      },
      catch: (cause) => new NatsError({ operation: "read project events", cause })
    })

  const load = (projectId: string) =>
    Effect.gen(function* () {
      // Two independent round trips: in parallel, so a cold load with a snapshot costs about one.
      const [snapshot, head] = yield* Effect.all([readSnapshot(projectId), headOf(projectId)], { concurrency: 2 })
      let state: ProjectState = Option.match(snapshot, {
        onNone: () => initialState,
        onSome: (s) => s.state as ProjectState
      })
      const from = Option.match(snapshot, { onNone: () => 0, onSome: (s) => s.version })
      const raw = yield* readAfter(projectId, from, head)
      for (const { seq, data } of raw) {
        const envelope = decodeEnvelope(data)
        if (envelope._tag === "Left") {
          return yield* new CorruptEvent({ projectId, seq, message: envelope.left.message })
        }
        state = evolveAll(state, envelope.right.events, envelope.right.commandId)
      }
      return { state, version: Math.max(head, from), envelopesSinceSnapshot: raw.length }
    }).pipe(Effect.withSpan("eventstore.load", { attributes: { projectId } }))

  const append = (projectId: string, expectedVersion: number, envelope: NewEnvelope) =>
    Effect.tryPromise({
      try: async () => {
        const body: EventEnvelope = { v: 1, projectId, previousVersion: expectedVersion, ...envelope }
        const ack = await js.publish(subjects.events(projectId), encoder.encode(JSON.stringify(body)), {
          expect: { lastSubjectSequence: expectedVersion }
        })
        return ack.seq
      },
      catch: (cause) =>
        isWrongLastSequence(cause)
          ? new VersionConflict({ projectId, expectedVersion })
          : new NatsError({ operation: "append events", cause })
    }).pipe(Effect.withSpan("eventstore.append", { attributes: { projectId, expectedVersion } }))

  const saveSnapshot = (projectId: string, version: number, state: ProjectState) =>
    Effect.tryPromise({
      try: () => snapshots.put(projectId, JSON.stringify({ format: snapshotFormat, version, state })),
      catch: (cause) => new NatsError({ operation: "write snapshot", cause })
    }).pipe(Effect.asVoid)

  return EventStore.of({ load, append, saveSnapshot })
})

export const EventStoreLive = Layer.effect(EventStore, makeEventStore)
