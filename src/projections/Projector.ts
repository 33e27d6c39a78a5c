/**
 * The read-model projector: an ordered consumer on BERTH_EVENTS starting after the checkpoint kept in
 * PostgreSQL, applying messages in batches, each batch in ONE transaction together with the new
 * checkpoint, so every event takes effect exactly once across restarts. Messages that cannot be decoded
 * (or applied) are recorded in the audit log and skipped: the projector never stalls on bad data.
 */
import type { JsMsg } from "@nats-io/jetstream"
import { Context, Data, Duration, Effect, Either, Fiber, Layer, Option, ParseResult, Schedule, Schema, Stream, SubscriptionRef, SynchronizedRef } from "effect"
import postgres from "postgres"
import { EventEnvelope } from "../domain/events.js"
import { Nats, NatsError } from "../eventstore/Nats.js"
import { projectIdOfSubject, streams, subjects } from "../eventstore/subjects.js"
import { foldBatch, loadBatch } from "./applyBatch.js"
import { type AppliedEnvelope, auditRows, auditStatement, specObjectNames, type SpecContents, undecodableAuditRow } from "./applyEvent.js"
import { Database, DatabaseError, query, type TxSql } from "./Database.js"
import { migrateWith } from "./migrate.js"
import { makeSpecFetcher } from "./openApiObjects.js"
import { checkpointName, readCheckpoint, resetReadModel } from "./readModel.js"

export interface ProjectorService {
  /** The last stream sequence committed to the read model. */
  readonly checkpoint: Effect.Effect<number>
  /** Completes once the read model includes stream sequence `streamSeq` (read-your-writes). */
  readonly waitFor: (streamSeq: number) => Effect.Effect<void>
  /** Empties the read model, replays BERTH_EVENTS from 1, and completes once it caught up with the stream. */
  readonly rebuild: Effect.Effect<void, DatabaseError | NatsError>
}

export interface ProjectorOptions {
  /** Most messages applied in one transaction; default 2,000. */
  readonly maxBatch?: number
  /** How long a batch waits for more messages; default 20 ms. */
  readonly batchWindow?: Duration.DurationInput
  /** The checkpoint row; default "read_model". */
  readonly name?: string
}

type Item =
  | ({ readonly _tag: "Envelope" } & AppliedEnvelope)
  | {
      readonly _tag: "Undecodable"
      readonly streamSeq: number
      readonly projectId: string
      readonly at: Date
      readonly raw: string
      readonly error: string
    }

class ConsumerEnded extends Data.TaggedError("ConsumerEnded")<{}> {}

const decodeEnvelope = Schema.decodeUnknownEither(EventEnvelope)

const undecodable = (m: JsMsg, raw: string, error: string): Item => ({
  _tag: "Undecodable",
  streamSeq: m.seq,
  projectId: projectIdOfSubject(m.subject),
  at: m.time,
  // jsonb and text reject NUL; keep the audit row bounded.
  raw: raw.replaceAll("\u0000", "\uFFFD").slice(0, 65_536),
  error: error.replaceAll("\u0000", "\uFFFD")
})

const decodeMessage = (m: JsMsg): Item => {
  const raw = m.string()
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (e) {
    return undecodable(m, raw, `not JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
  const decoded = decodeEnvelope(parsed)
  return Either.isRight(decoded)
    ? { _tag: "Envelope", streamSeq: m.seq, envelope: decoded.right }
    : undecodable(m, raw, ParseResult.TreeFormatter.formatErrorSync(decoded.left))
}

/** A PostgreSQL data, constraint or size-limit error: retrying the same message would fail the same way. */
const isDataError = (e: DatabaseError | NatsError): boolean =>
  e._tag === "DatabaseError" && e.cause instanceof postgres.PostgresError && /^(22|23|54)/.test(e.cause.code)

/**
 * Applies `items` after the stored checkpoint (row locked, so concurrent projectors serialise and
 * skip what the other applied), then stores the new checkpoint; returns it. The whole batch takes a
 * constant number of round trips: the checkpoint lock and one select per read-model table (the rows
 * the batch touches) are pipelined, the fresh events are folded over those rows in memory, then the
 * audit rows, one upsert (or delete) per table and the checkpoint are pipelined, in order.
 */
const applyItems = async (tx: TxSql, name: string, items: ReadonlyArray<Item>, specs: SpecContents): Promise<number> => {
  const isEnvelope = (item: Item): item is Extract<Item, { _tag: "Envelope" }> => item._tag === "Envelope"
  // Sent in this order on the transaction's connection: the loads run once the checkpoint row is locked.
  const locked = Promise.all([
    tx`insert into projection_checkpoints (name, stream_seq) values (${name}, 0) on conflict (name) do nothing`,
    tx<Array<{ stream_seq: string }>>`select stream_seq::text from projection_checkpoints where name = ${name} for update`
  ])
  const loading = loadBatch(tx, items.filter(isEnvelope), specs)
  const [[, rows], state] = await Promise.all([locked, loading])
  const stored = Number(rows[0]?.stream_seq ?? 0)
  const fresh = items.filter((item) => item.streamSeq > stored) // already applied (by an earlier run or another projector)
  const last = fresh[fresh.length - 1]
  if (last === undefined) return stored
  const audit = fresh.flatMap((item) => (item._tag === "Envelope" ? auditRows(item) : [undecodableAuditRow(item)]))
  await Promise.all([
    auditStatement(tx, audit),
    ...foldBatch(tx, state, fresh.filter(isEnvelope)),
    tx`update projection_checkpoints set stream_seq = ${last.streamSeq} where name = ${name}`
  ])
  return last.streamSeq
}

export class Projector extends Context.Tag("berth/Projector")<Projector, ProjectorService>() {
  static layer(options: ProjectorOptions = {}): Layer.Layer<Projector, DatabaseError, Database | Nats> {
    return Layer.scoped(Projector, make(options))
  }
}

const make = (options: ProjectorOptions) =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const { js, jsm } = yield* Nats
    const name = options.name ?? checkpointName
    const maxBatch = Math.max(1, options.maxBatch ?? 2_000)
    const windowMillis = Duration.toMillis(Duration.decode(options.batchWindow ?? "20 millis"))
    const fetchSpecs = makeSpecFetcher(js)

    yield* migrateWith(sql)
    const checkpoint = yield* SubscriptionRef.make(yield* readCheckpoint(sql, name))

    const commit = (items: ReadonlyArray<Item>) =>
      Effect.gen(function*() {
        const names = new Set(items.flatMap((item) => (item._tag === "Envelope" ? specObjectNames(item.envelope) : [])))
        const specs = yield* fetchSpecs([...names])
        const committed = yield* query("apply batch", () =>
          sql.begin((tx) => applyItems(tx, name, items, (objectName) => specs.get(objectName) ?? null))
        )
        yield* SubscriptionRef.set(checkpoint, committed)
        return committed
      }).pipe(Effect.uninterruptible)

    /** A message whose application fails on its data is audited as Undecodable and skipped. */
    const commitOneByOne = (items: ReadonlyArray<Item>) =>
      Effect.forEach(items, (item) =>
        commit([item]).pipe(
          Effect.catchIf(isDataError, (e) =>
            Effect.logError("event cannot be applied; recorded as Undecodable and skipped").pipe(
              Effect.annotateLogs({ streamSeq: item.streamSeq, error: e.message }),
              Effect.zipRight(
                commit([{
                  _tag: "Undecodable",
                  streamSeq: item.streamSeq,
                  projectId: (item._tag === "Envelope" ? item.envelope.projectId : item.projectId).replaceAll("\u0000", "\uFFFD"),
                  at: item._tag === "Envelope" ? new Date(item.envelope.at) : item.at,
                  raw: "",
                  error: `cannot apply: ${e.message}`.replaceAll("\u0000", "\uFFFD")
                }])
              )
            )
          )
        ), { discard: true })

    const applyBatch = (batch: ReadonlyArray<Item>) =>
      Effect.gen(function*() {
        const known = yield* SubscriptionRef.get(checkpoint)
        const items = batch.filter((item) => item.streamSeq > known)
        if (items.length === 0) return
        const undecodableCount = items.filter((item) => item._tag === "Undecodable").length
        if (undecodableCount > 0) yield* Effect.logWarning(`${undecodableCount} undecodable message(s) recorded and skipped`)
        yield* commit(items).pipe(
          Effect.catchIf(isDataError, (e) =>
            Effect.logWarning("batch failed on its data; applying one by one").pipe(
              Effect.annotateLogs({ error: e.message }),
              Effect.zipRight(commitOneByOne(items))
            )
          )
        )
        yield* Effect.logDebug("batch projected").pipe(
          Effect.annotateLogs({ messages: items.length, checkpoint: items[items.length - 1]?.streamSeq ?? known })
        )
      }).pipe(Effect.withSpan("projections.applyBatch", { attributes: { size: batch.length } }))

    const messagesFrom = (startSeq: number) =>
      Effect.gen(function*() {
        const consumer = yield* Effect.tryPromise({
          try: () => js.consumers.get(streams.events, { opt_start_seq: startSeq, filter_subjects: subjects.eventsAll }),
          catch: (cause) => new NatsError({ operation: `ordered consumer on ${streams.events}`, cause })
        })
        const messages = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: () => consumer.consume({ max_messages: Math.max(maxBatch * 2, 100) }),
            catch: (cause) => new NatsError({ operation: `consume ${streams.events}`, cause })
          }),
          // Closing ends a pending next(); the iterator's return() would wait for that next() forever.
          (messages) => Effect.promise(() => messages.close()).pipe(Effect.timeout("5 seconds"), Effect.ignore)
        )
        const iterator = messages[Symbol.asyncIterator]()
        // Batches are collected off the iterator in plain promises (an Effect per message costs more than
        // applying it): the first message, then whatever else arrives within the window, up to maxBatch.
        // A next() still pending when the window closes is kept for the following batch.
        let pending: Promise<IteratorResult<JsMsg>> | undefined
        const pull = () => {
          const next = pending ?? iterator.next()
          pending = undefined
          return next
        }
        const nextBatch = async (): Promise<ReadonlyArray<Item> | undefined> => {
          const first = await pull()
          if (first.done === true) return undefined
          const batch: Array<Item> = [decodeMessage(first.value)]
          let timer: ReturnType<typeof setTimeout> | undefined
          const window = new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), windowMillis)
          })
          try {
            while (batch.length < maxBatch) {
              const next = pull()
              const result = await Promise.race([next, window])
              if (result === undefined || result.done === true) {
                pending = next
                break
              }
              batch.push(decodeMessage(result.value))
            }
          } finally {
            clearTimeout(timer)
          }
          return batch
        }
        return Stream.repeatEffectOption(
          Effect.tryPromise({
            try: nextBatch,
            catch: (cause) => Option.some(new NatsError({ operation: `read ${streams.events}`, cause }))
          }).pipe(Effect.flatMap((batch) => (batch === undefined ? Effect.fail(Option.none()) : Effect.succeed(batch))))
        )
      })

    /** One consumer session from the stored checkpoint; restarted with backoff whenever it ends. */
    const session = Effect.gen(function*() {
      const from = (yield* readCheckpoint(sql, name)) + 1
      yield* SubscriptionRef.set(checkpoint, from - 1)
      yield* Effect.logInfo("projector consuming").pipe(Effect.annotateLogs({ stream: streams.events, from }))
      yield* Stream.unwrapScoped(messagesFrom(from)).pipe(
        // The next batch is collected (and decoded) while the current one commits.
        Stream.buffer({ capacity: 1 }),
        Stream.mapEffect(applyBatch),
        Stream.runDrain
      )
      return yield* new ConsumerEnded()
    })

    const loop = session.pipe(
      Effect.tapErrorCause((cause) => Effect.logError("projector session ended; restarting", cause)),
      Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
      Effect.annotateLogs({ component: "projector", checkpointName: name })
    )

    const scope = yield* Effect.scope
    const running = yield* SynchronizedRef.make(yield* Effect.forkIn(loop, scope))

    const waitFor = (streamSeq: number) =>
      checkpoint.changes.pipe(Stream.filter((seq) => seq >= streamSeq), Stream.take(1), Stream.runDrain)

    const rebuild = Effect.gen(function*() {
      const info = yield* Effect.tryPromise({
        try: () => jsm.streams.info(streams.events),
        catch: (cause) => new NatsError({ operation: `info ${streams.events}`, cause })
      })
      const target = info.state.last_seq
      yield* Effect.logInfo("rebuilding read model").pipe(Effect.annotateLogs({ upTo: target }))
      // Stop the session (a batch in flight finishes first: commits are uninterruptible), reset, and
      // always start a new session, even when the reset failed.
      const reset = yield* SynchronizedRef.modifyEffect(running, (fiber) =>
        Effect.gen(function*() {
          yield* Fiber.interrupt(fiber)
          const reset = yield* Effect.either(resetReadModel(sql, name))
          if (Either.isRight(reset)) yield* SubscriptionRef.set(checkpoint, 0)
          const next = yield* Effect.forkIn(loop, scope)
          return [reset, next] as const
        })
      )
      yield* reset
      yield* waitFor(target)
      yield* Effect.logInfo("read model rebuilt").pipe(Effect.annotateLogs({ upTo: target }))
    }).pipe(Effect.withSpan("projections.rebuild"))

    return {
      checkpoint: SubscriptionRef.get(checkpoint),
      waitFor,
      rebuild
    } satisfies ProjectorService
  })
