/**
 * The EventStore and Archive ports on JetStream: one subject per project, one message per decision.
 * Append = one publish with the expected last subject sequence (optimistic concurrency), fenced with
 * a message id on a cluster (appendFence.ts).
 * Load = snapshot (when present) + the envelopes after it, folded with `evolve`.
 * Snapshots hold the hot state; retired deployments and their routes are in the archive (Archive.ts),
 * read on demand, and rebuilt from the log when the archive lacks them.
 */
import { JetStreamApiCodes, type JsMsg } from "@nats-io/jetstream"
import { Kvm, type KV } from "@nats-io/kv"
import { Context, Effect, Layer, ParseResult, Schema } from "effect"
import { EventEnvelope } from "../domain/events.js"
import { evolveEnvelopes, initialState, type ProjectState } from "../domain/state.js"
import { appendFenceHeaders } from "./appendFence.js"
import { Archive, makeArchive } from "./Archive.js"
import { CorruptEvent, EventStore, VersionConflict, withReferencedReinstated, type NewEnvelope } from "./EventStore.js"
import { makeKvArchiveBucket } from "./kvArchiveBucket.js"
import { makeDirectReader } from "../nats/DirectReader.js"
import type { PublishError } from "../nats/AckedPublisher.js"
import { Nats, NatsError } from "../nats/Nats.js"
import { buckets, kvStream, streams, subjects } from "../nats/subjects.js"
import { kvKeySubject } from "../nats/kvPut.js"
import { formatParseIssues } from "../shared/parseIssues.js"

/** Bumped whenever ProjectState's shape changes: older snapshots are then ignored and the log replayed. */
const snapshotFormat = 2
/** Room for the headers a KV put may add (expected revision, TTL) within max_payload. */
const snapshotHeadroomBytes = 1024

/**
 * We wrote the snapshot, so its format number stands for its shape: no Schema decode of the state
 * (that cost more than the read itself).
 */
const parseSnapshot = (text: string): { readonly version: number; readonly state: ProjectState } | undefined => {
  try {
    const value = JSON.parse(text) as { readonly format?: unknown; readonly version?: unknown; readonly state?: unknown }
    return value.format === snapshotFormat && typeof value.version === "number" && typeof value.state === "object" && value.state !== null
      ? { version: value.version, state: value.state as ProjectState }
      : undefined
  } catch {
    return undefined
  }
}

const decodeEnvelope = Schema.decodeUnknownEither(Schema.parseJson(EventEnvelope))

/** Where an envelope fails, in a line an operator can act on ("events.0.type: Expected …, actual …"). */
const describeDecodeError = (error: ParseResult.ParseError): string => formatParseIssues(error, { fallback: error.message, max: 3 })

const encoder = new TextEncoder()
const textDecoder = new TextDecoder()

const isWrongLastSequence = (error: PublishError): boolean =>
  error._tag === "PublishRejected" &&
  (error.errCode === JetStreamApiCodes.StreamWrongLastSequence ||
    error.errCode === JetStreamApiCodes.StreamWrongLastSequenceUnknown)

export const makeEventStore = Effect.gen(function* () {
  const { js, nc, inbox, publisher, replication } = yield* Nats
  const snapshots: KV = yield* Effect.tryPromise({
    try: () => new Kvm(nc).create(buckets.snapshots, { history: 1, replicas: replication.replicas }),
    catch: (cause) => new NatsError({ operation: "open snapshot bucket", cause })
  })
  const bucket = yield* makeKvArchiveBucket(nc, replication.replicas)
  const reader = makeDirectReader(inbox)
  // Berth creates the bucket with direct gets allowed; one made otherwise is read through the KV client.
  const snapshotsDirect = yield* Effect.tryPromise({
    try: async () => (await snapshots.status()).streamInfo.config.allow_direct === true,
    catch: (cause) => new NatsError({ operation: "read snapshot bucket status", cause })
  })

  const clustered = replication.cluster !== undefined
  const failsAs = (operation: string) => (cause: unknown) => Promise.reject(new NatsError({ operation, cause }))

  /**
   * The snapshot (when wanted) and the sequence of the project's last message (one direct get): two
   * independent round trips in flight together, so a cold load with a snapshot costs about one. One
   * promise, not Effect.all: forking two fibers for it cost more than a round trip (bench: rehydrate).
   */
  const snapshotAndHead = (projectId: string, fromSnapshot: boolean) =>
    Effect.tryPromise({
      try: () =>
        Promise.all([
          fromSnapshot ? readSnapshotText(projectId).catch(failsAs("read snapshot")) : undefined,
          reader.lastBySubject(streams.events, subjects.events(projectId)).catch(failsAs("read project head"))
        ]),
      catch: (cause) => (cause instanceof NatsError ? cause : new NatsError({ operation: "read snapshot and head", cause }))
    }).pipe(
      Effect.map(([text, last]) => ({
        snapshot: text === undefined ? undefined : parseSnapshot(text),
        head: last?.seq ?? 0
      }))
    )

  /** The snapshot entry's JSON, or undefined when there is none (or it was deleted). */
  const readSnapshotText = async (projectId: string): Promise<string | undefined> => {
    if (!snapshotsDirect) {
      const entry = await snapshots.get(projectId)
      return entry === null || entry.operation !== "PUT" ? undefined : entry.string()
    }
    // A KV entry is the last message on its key's subject in the bucket's stream.
    const message = await reader.lastBySubject(kvStream(buckets.snapshots), kvKeySubject(buckets.snapshots, projectId))
    const operation = message?.headers?.get("KV-Operation") ?? ""
    return message === null || operation === "DEL" || operation === "PURGE" ? undefined : textDecoder.decode(message.data)
  }

  /**
   * On a cluster, one direct get per envelope instead: nats-server 2.9 places the ordered consumer on a
   * random server of the stream's group, a dead one included, so with a node down a third of the loads
   * would wait for a consumer that is never made; any live replica answers a direct get.
   */
  const readAfterDirect = (projectId: string, after: number, head: number) =>
    Effect.tryPromise({
      try: async () => {
        const raw: Array<{ seq: number; data: string }> = []
        for (let seq = after + 1; seq <= head; ) {
          const message = await reader.nextBySubject(streams.events, subjects.events(projectId), seq)
          if (message === null) break
          raw.push({ seq: message.seq, data: textDecoder.decode(message.data) })
          seq = message.seq + 1
        }
        return raw
      },
      catch: (cause) => new NatsError({ operation: "read project events", cause })
    })

  const readAfter = (projectId: string, after: number, head: number) =>
    clustered ? readAfterDirect(projectId, after, head) : Effect.tryPromise({
      try: async () => {
        const raw: Array<{ seq: number; data: string }> = []
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

  /** The log folded onto the snapshot, or (fromSnapshot false) onto the initial state: nothing retired. */
  const fold = (projectId: string, fromSnapshot: boolean) =>
    Effect.gen(function* () {
      const { snapshot, head } = yield* snapshotAndHead(projectId, fromSnapshot)
      const start: ProjectState = snapshot?.state ?? initialState
      const from = snapshot?.version ?? 0
      // A snapshot at the head: nothing to read, and no consumer is created.
      if (head <= from) return { state: start, version: from, envelopesSinceSnapshot: 0 }
      const raw = yield* readAfter(projectId, from, head)
      const envelopes: Array<EventEnvelope> = []
      for (const { seq, data } of raw) {
        const envelope = decodeEnvelope(data)
        if (envelope._tag === "Left") {
          return yield* new CorruptEvent({ projectId, seq, message: describeDecodeError(envelope.left) })
        }
        envelopes.push(envelope.right)
      }
      // One fold over all of them: linear in their number (evolveEnvelopes copies the state once).
      const state = envelopes.length === 0 ? start : evolveEnvelopes(start, envelopes)
      return { state, version: Math.max(head, from), envelopesSinceSnapshot: raw.length }
    })

  const archive = makeArchive(bucket, (projectId) => Effect.map(fold(projectId, false), (full) => full.state))

  const load = (projectId: string) =>
    fold(projectId, true).pipe(
      Effect.flatMap((loaded) => withReferencedReinstated(projectId, loaded, archive)),
      Effect.withSpan("eventstore.load", { captureStackTrace: false, attributes: { projectId } })
    )

  // No span here: appends run thousands of times a second, and a span cost as much as the publish.
  const append = (projectId: string, expectedVersion: number, envelope: NewEnvelope) => {
    const body: EventEnvelope = { v: 1, projectId, previousVersion: expectedVersion, ...envelope }
    const headers = appendFenceHeaders(clustered, projectId, expectedVersion)
    return publisher
      .publish(subjects.events(projectId), encoder.encode(JSON.stringify(body)), {
        expectedLastSubjectSequence: expectedVersion,
        ...(headers === undefined ? {} : { headers })
      })
      .pipe(
        Effect.mapError((error) =>
          isWrongLastSequence(error)
            ? new VersionConflict({ projectId, expectedVersion })
            : new NatsError({ operation: "append events", cause: error })
        ),
        Effect.flatMap((ack) => (ack.duplicate ? Effect.fail(new VersionConflict({ projectId, expectedVersion })) : Effect.succeed(ack.seq)))
      )
  }

  /** Projects whose last snapshot was skipped as too large: warned about once until one fits again. */
  const oversizedSnapshots = new Set<string>()

  /**
   * Writes the snapshot, or skips it when it is larger than the server takes in one message (the
   * connection's max_payload): the project then loads from its previous snapshot (or the start of its
   * log) plus the envelopes since, which is correct, only slower. Skipping succeeds, so the caller
   * waits its usual number of envelopes before trying again; one warning per project until a
   * snapshot of it fits again.
   */
  const saveSnapshot = (projectId: string, version: number, state: ProjectState) =>
    Effect.suspend(() => {
      const data = encoder.encode(JSON.stringify({ format: snapshotFormat, version, state }))
      const maxPayload = nc.info?.max_payload
      if (maxPayload !== undefined && data.length + snapshotHeadroomBytes > maxPayload) {
        const details = { projectId, version, snapshotBytes: data.length, maxPayload }
        if (oversizedSnapshots.has(projectId)) return Effect.logDebug("snapshot still too large; skipped").pipe(Effect.annotateLogs(details))
        oversizedSnapshots.add(projectId)
        return Effect.logWarning(
          "snapshot skipped: larger than the server's max_payload; the project loads from its log until a snapshot fits again"
        ).pipe(Effect.annotateLogs(details))
      }
      return Effect.tryPromise({
        try: () => snapshots.put(projectId, data),
        catch: (cause) => new NatsError({ operation: "write snapshot", cause })
      }).pipe(Effect.andThen(() => void oversizedSnapshots.delete(projectId)))
    })

  return { store: EventStore.of({ load, append, saveSnapshot }), archive: Archive.of(archive) }
})

/** Both ports on one NATS connection (the archive replays the log; a load reinstates from the archive). */
export const EventStoreLive: Layer.Layer<EventStore | Archive, NatsError, Nats> = Layer.scopedContext(
  Effect.map(makeEventStore, ({ store, archive }) => Context.make(EventStore, store).pipe(Context.add(Archive, archive)))
)
