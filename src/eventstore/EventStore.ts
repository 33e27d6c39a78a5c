/**
 * The JetStream event store: one subject per project, one message per decision.
 * Append = one publish with the expected last subject sequence (optimistic concurrency).
 * Load = snapshot (when present) + the envelopes after it, folded with `evolve`.
 * Snapshots hold the hot state; retired deployments and their routes are in the archive (Archive.ts),
 * read on demand, and rebuilt from the log when the archive lacks them.
 */
import { JetStreamApiCodes, type JsMsg } from "@nats-io/jetstream"
import { Kvm, type KV } from "@nats-io/kv"
import { Context, Data, Effect, Layer, ParseResult, Schema } from "effect"
import { EventEnvelope } from "../domain/events.js"
import {
  mergeRetiredRoutes,
  missingReferences,
  noRetiredRoutes,
  rebuildRetiredRoutes,
  reinstate,
  toReinstate,
  type RetiredRoutes,
  type Retirement
} from "../domain/retirement.js"
import { evolveEnvelopes, initialState, type DeploymentState, type ProjectState } from "../domain/state.js"
import { makeArchive } from "./Archive.js"
import { makeDirectReader } from "../nats/DirectReader.js"
import type { PublishError } from "../nats/AckedPublisher.js"
import { Nats, NatsError } from "../nats/Nats.js"
import { buckets, streams, subjects } from "../nats/subjects.js"
import { formatParseIssues } from "../shared/parseIssues.js"

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
  /**
   * Archives what a retirement takes out of `before` (call it before saving the snapshot of
   * `retirement.state`); returns the retired routes when they changed.
   */
  readonly archive: (
    projectId: string,
    before: ProjectState,
    retirement: Retirement
  ) => Effect.Effect<RetiredRoutes | null, NatsError | CorruptEvent>
  /** Retired deployments by id (ids never retired are left out). */
  readonly archived: (
    projectId: string,
    deploymentIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<DeploymentState>, NatsError | CorruptEvent>
  /** The routes of retired deployments that `state` relies on (see withRetiredRoutes). */
  readonly retiredRoutes: (projectId: string, state: ProjectState) => Effect.Effect<RetiredRoutes, NatsError | CorruptEvent>
}

export class EventStore extends Context.Tag("berth/EventStore")<EventStore, EventStoreService>() {}

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
  const { js, nc, inbox, publisher } = yield* Nats
  const snapshots: KV = yield* Effect.tryPromise({
    try: () => new Kvm(nc).create(buckets.snapshots, { history: 1 }),
    catch: (cause) => new NatsError({ operation: "open snapshot bucket", cause })
  })
  const archive = yield* makeArchive(nc)
  const reader = makeDirectReader(inbox)
  // Berth creates the bucket with direct gets allowed; one made otherwise is read through the KV client.
  const snapshotsDirect = yield* Effect.tryPromise({
    try: async () => (await snapshots.status()).streamInfo.config.allow_direct === true,
    catch: (cause) => new NatsError({ operation: "read snapshot bucket status", cause })
  })

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
    const message = await reader.lastBySubject(`KV_${buckets.snapshots}`, `$KV.${buckets.snapshots}.${projectId}`)
    const operation = message?.headers?.get("KV-Operation") ?? ""
    return message === null || operation === "DEL" || operation === "PURGE" ? undefined : textDecoder.decode(message.data)
  }

  const readAfter = (projectId: string, after: number, head: number) =>
    Effect.tryPromise({
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

  const archived = (projectId: string, ids: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      if (ids.length === 0) return []
      const found = yield* archive.getDeployments(projectId, ids)
      const lacking = ids.filter((id) => !found.some((deployment) => deployment.id === id))
      if (lacking.length === 0) return found
      // A digest hit without an entry: a hash collision (the id is new) or a lost archive entry. Only
      // the log can tell; whatever it has goes back into the archive.
      const full = yield* fold(projectId, false)
      const recovered = lacking.flatMap((id) => {
        const deployment = full.state.deployments[id]
        return deployment === undefined ? [] : [deployment]
      })
      if (recovered.length > 0) {
        yield* Effect.logWarning("archived deployments were missing; recovered them from the log").pipe(
          Effect.annotateLogs({ projectId, deploymentIds: recovered.map((d) => d.id).join(",") })
        )
        yield* archive.putDeployments(projectId, recovered)
      }
      return [...found, ...recovered]
    })

  const load = (projectId: string) =>
    fold(projectId, true).pipe(
      Effect.flatMap((loaded) => {
        // Events made while a retired deployment was reinstated (a rollback to it) can name it again.
        const ids = toReinstate(loaded.state, missingReferences(loaded.state))
        if (ids.length === 0) return Effect.succeed(loaded)
        return archived(projectId, ids).pipe(Effect.map((back) => ({ ...loaded, state: reinstate(loaded.state, back) })))
      }),
      Effect.withSpan("eventstore.load", { captureStackTrace: false, attributes: { projectId } })
    )

  const retiredRoutes = (projectId: string, state: ProjectState) =>
    Effect.gen(function* () {
      if (state.retired.routesAsOf === 0) return noRetiredRoutes
      const stored = yield* archive.getRoutes(projectId)
      if (stored !== undefined && stored.asOf >= state.retired.routesAsOf) return stored
      yield* Effect.logWarning("the archive lacks the retired routes; rebuilding them from the log").pipe(
        Effect.annotateLogs({ projectId })
      )
      const full = yield* fold(projectId, false)
      const rebuilt = rebuildRetiredRoutes(full.state, state, state.retired.routesAsOf)
      const written = yield* archive.updateRoutes(projectId, (current) =>
        current !== undefined && current.asOf >= rebuilt.asOf ? null : rebuilt
      )
      return written ?? rebuilt
    })

  const archiveRetirement = (projectId: string, before: ProjectState, retirement: Retirement) =>
    Effect.gen(function* () {
      yield* archive.putDeployments(projectId, retirement.retired)
      if (retirement.routes.asOf === 0) return null
      // The stored table, unless it is older than what `before` relies on (then rebuilt from the log).
      const upToDate = (current: RetiredRoutes | undefined): current is RetiredRoutes =>
        current !== undefined && current.asOf >= before.retired.routesAsOf
      const merged = yield* archive.updateRoutes(projectId, (current) => (upToDate(current) ? mergeRetiredRoutes(current, retirement) : null))
      if (merged !== null) return merged
      const base = yield* retiredRoutes(projectId, before)
      return yield* archive.updateRoutes(projectId, (current) => mergeRetiredRoutes(upToDate(current) ? current : base, retirement))
    }).pipe(Effect.withSpan("eventstore.archive", { captureStackTrace: false, attributes: { projectId } }))

  // No span here: appends run thousands of times a second, and a span cost as much as the publish.
  const append = (projectId: string, expectedVersion: number, envelope: NewEnvelope) => {
    const body: EventEnvelope = { v: 1, projectId, previousVersion: expectedVersion, ...envelope }
    return publisher
      .publish(subjects.events(projectId), encoder.encode(JSON.stringify(body)), { expectedLastSubjectSequence: expectedVersion })
      .pipe(
        Effect.map((ack) => ack.seq),
        Effect.mapError((error) =>
          isWrongLastSequence(error)
            ? new VersionConflict({ projectId, expectedVersion })
            : new NatsError({ operation: "append events", cause: error })
        )
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

  return EventStore.of({ load, append, saveSnapshot, archive: archiveRetirement, archived, retiredRoutes })
})

export const EventStoreLive = Layer.scoped(EventStore, makeEventStore)
