/**
 * The read-model projector: an ordered consumer on BERTH_EVENTS starting after the checkpoint kept in
 * PostgreSQL, applying messages in batches, each batch in ONE transaction together with the new
 * checkpoint, so every event takes effect exactly once across restarts. Messages that cannot be decoded
 * (or applied) are recorded in the audit log and skipped: the projector never stalls on bad data.
 *
 * Batches are pipelined: while one commits, the next is collected, decoded and folded over the rows the
 * session keeps in memory (applyBatch.ts), so Node and PostgreSQL work at the same time. Each commit
 * moves the checkpoint only from the value its fold assumed; a commit that fails ends the session (and
 * its rows): the next one starts from the stored checkpoint, after applying a batch PostgreSQL rejected
 * on its data one message at a time.
 */
import type { JsMsg } from "@nats-io/jetstream"
import { Context, Data, Duration, Effect, Either, Fiber, Layer, Option, Schedule, Schema, Stream, SubscriptionRef, SynchronizedRef } from "effect"
import postgres from "postgres"
import { EventEnvelope } from "../domain/events.js"
import { makeDirectReader } from "../nats/DirectReader.js"
import { Nats, NatsError } from "../nats/Nats.js"
import { projectIdOfSubject, streams, subjects } from "../nats/subjects.js"
import { ProjectionState } from "./applyBatch.js"
import { type AppliedEnvelope, type AuditRow, auditRows, auditStatement, specObjectNames, type SpecContents, undecodableAuditRow } from "./applyEvent.js"
import { Database, DatabaseError, query, type Statement, type TxSql } from "./Database.js"
import { migrateWith } from "./migrate.js"
import { makeSpecFetcher } from "./openApiObjects.js"
import { checkpointName, readCheckpoint, resetReadModel } from "./readModel.js"
import { displaySealedIn } from "../domain/secrets.js"
import { formatParseIssues } from "../shared/parseIssues.js"

export interface ProjectorService {
  /** The last stream sequence committed to the read model. */
  readonly checkpoint: Effect.Effect<number>
  /** Completes once the read model includes stream sequence `streamSeq` (read-your-writes). */
  readonly waitFor: (streamSeq: number) => Effect.Effect<void>
  /** Empties the read model, replays BERTH_EVENTS from 1, and completes once it caught up with the stream. */
  readonly rebuild: Effect.Effect<void, DatabaseError | NatsError>
}

export interface ProjectorOptions {
  /**
   * Most messages applied in one transaction; default 10,000. Batches only grow that large while the
   * projector is behind (catching up, a row touched again and again is then written once per batch);
   * a session's first batch holds at most an eighth of it, and the limit doubles with each batch.
   */
  readonly maxBatch?: number
  /**
   * How long a batch waits for more messages; default 20 ms. While the stream holds messages not yet
   * delivered (the projector is behind), a batch keeps waiting for them, up to 1 second, until full.
   */
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

type EnvelopeItem = Extract<Item, { _tag: "Envelope" }>

const isEnvelope = (item: Item): item is EnvelopeItem => item._tag === "Envelope"

const auditRowsOf = (items: ReadonlyArray<Item>): ReadonlyArray<AuditRow> =>
  items.flatMap((item) => (item._tag === "Envelope" ? auditRows(item) : [undecodableAuditRow(item)]))

class ConsumerEnded extends Data.TaggedError("ConsumerEnded")<{}> {}

/** The checkpoint is not where a batch's fold assumed: another projector moved it. */
class CheckpointMoved extends Data.TaggedError("CheckpointMoved")<{ readonly expected: number }> {
  override get message(): string {
    return `the checkpoint moved past ${this.expected}: another projector applied the same messages`
  }
}

/** PostgreSQL rejected a batch on its data: its messages are applied one by one, the session restarts. */
class BatchRejected extends Data.TaggedError("BatchRejected")<{ readonly items: ReadonlyArray<Item>; readonly error: DatabaseError }> {}

/** A batch folded and serialised, waiting to commit. */
interface Prepared {
  /** Its number in the session (1, 2, ...). */
  readonly number: number
  readonly items: ReadonlyArray<Item>
  /** The checkpoint the fold started from, and the one the batch moves it to. */
  readonly after: number
  readonly last: number
  readonly statements: ReadonlyArray<Statement>
}

const decodeEnvelope = Schema.decodeUnknownEither(EventEnvelope)

const undecodable = (m: JsMsg, raw: string, error: string): Item => ({
  _tag: "Undecodable",
  streamSeq: m.seq,
  projectId: projectIdOfSubject(m.subject),
  at: m.time,
  // jsonb and text reject NUL; keep the audit row bounded.
  // Sealed env values are kept as their fingerprints, like every other read-model row.
  raw: displaySealedIn(raw.replaceAll("\u0000", "\uFFFD")).slice(0, 65_536),
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
    : undecodable(m, raw, formatParseIssues(decoded.left, { fallback: decoded.left.message, max: 3 }))
}

/** Lifetime of a pull request (its idle heartbeat is half of it). */
const pullExpiresMillis = 5_000

/**
 * How long a session waits for its next message with not even an idle heartbeat (one every half
 * pullExpiresMillis) before it gives its consumer up and creates a new one. On a cluster the ordered
 * consumer (R1) lives on one server of the stream's group: when that server dies, nats.js gets nothing
 * more and does not give up (it asks the dead consumer's info again and again, which no server answers),
 * so the session waited forever while the stream went on elsewhere. A new consumer may land on the dead
 * node too: its creation then times out (5 s) and the session is retried.
 */
const silenceMillis = 4 * (pullExpiresMillis / 2)

/** How long a batch waits for messages the stream holds but has not delivered yet. */
const catchUpMillis = 1_000

/** A PostgreSQL data, constraint or size-limit error: retrying the same message would fail the same way. */
const isDataError = (e: DatabaseError | NatsError): boolean =>
  e._tag === "DatabaseError" && e.cause instanceof postgres.PostgresError && /^(22|23|54)/.test(e.cause.code)

/**
 * For long loops on the event loop while a commit is in flight: resolves at once, except every few
 * milliseconds, when it waits for pending I/O (a commit's replies, its next statements) to be handled.
 */
const breather = (millis = 4) => {
  let since = performance.now()
  return async (): Promise<void> => {
    if (performance.now() - since < millis) return
    await new Promise<void>((resolve) => setImmediate(resolve))
    since = performance.now()
  }
}

/**
 * Applies `items` after the stored checkpoint (row locked, so concurrent projectors serialise and
 * skip what the other applied), then stores the new checkpoint; returns it. Reads what the items touch
 * inside the transaction, with a state of its own: the path for messages applied one at a time.
 */
const applyItems = async (tx: TxSql, name: string, items: ReadonlyArray<Item>, specs: SpecContents): Promise<number> => {
  // Sent in this order on the transaction's connection: the loads run once the checkpoint row is locked.
  const locked = Promise.all([
    tx`insert into projection_checkpoints (name, stream_seq) values (${name}, 0) on conflict (name) do nothing`,
    tx<Array<{ stream_seq: string }>>`select stream_seq::text from projection_checkpoints where name = ${name} for update`
  ])
  const state = new ProjectionState()
  const [[, rows]] = await Promise.all([locked, state.load(tx, items.filter(isEnvelope), 1)])
  const stored = Number(rows[0]?.stream_seq ?? 0)
  const fresh = items.filter((item) => item.streamSeq > stored) // already applied (by an earlier run or another projector)
  const last = fresh[fresh.length - 1]
  if (last === undefined) return stored
  for (const envelope of fresh.filter(isEnvelope)) state.apply(envelope, specs)
  const statements = [auditStatement(auditRowsOf(fresh)), ...(await state.writes())]
  await Promise.all([
    ...statements.map((statement) => statement(tx)),
    tx`update projection_checkpoints set stream_seq = ${last.streamSeq} where name = ${name}`
  ])
  return last.streamSeq
}

/**
 * Commits a prepared batch: moves the checkpoint from `after` (failing with CheckpointMoved when it is
 * elsewhere), then the batch's statements, all pipelined, in order.
 */
const commitPrepared = async (tx: TxSql, name: string, batch: Prepared): Promise<void> => {
  const results = await Promise.allSettled([
    tx`update projection_checkpoints set stream_seq = ${batch.last} where name = ${name} and stream_seq = ${batch.after}`,
    ...batch.statements.map((statement) => statement(tx))
  ])
  const [guard] = results
  if (guard?.status === "fulfilled" && guard.value.count !== 1) throw new CheckpointMoved({ expected: batch.after })
  // The first failure is the cause; the statements after it only saw the transaction aborted.
  const failed = results.find((result) => result.status === "rejected")
  if (failed !== undefined) throw failed.reason
}

export class Projector extends Context.Tag("berth/Projector")<Projector, ProjectorService>() {
  static layer(options: ProjectorOptions = {}): Layer.Layer<Projector, DatabaseError, Database | Nats> {
    return Layer.scoped(Projector, make(options))
  }
}

const make = (options: ProjectorOptions) =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const { js, jsm, inbox } = yield* Nats
    const name = options.name ?? checkpointName
    const maxBatch = Math.max(1, options.maxBatch ?? 10_000)
    const windowMillis = Duration.toMillis(Duration.decode(options.batchWindow ?? "20 millis"))
    const fetchSpecs = makeSpecFetcher(js, makeDirectReader(inbox))

    yield* migrateWith(sql)
    const checkpoint = yield* SubscriptionRef.make(yield* readCheckpoint(sql, name))

    const specsOf = (items: ReadonlyArray<Item>) =>
      Effect.map(
        fetchSpecs([...new Set(items.flatMap((item) => (item._tag === "Envelope" ? specObjectNames(item.envelope) : [])))]),
        (specs): SpecContents => (objectName) => specs.get(objectName) ?? null
      )

    /** Applies `items` in a transaction of their own, reading what they touch inside it. */
    const commitAlone = (items: ReadonlyArray<Item>) =>
      Effect.gen(function*() {
        const specs = yield* specsOf(items)
        const committed = yield* query("apply batch", () => sql.begin((tx) => applyItems(tx, name, items, specs)))
        yield* SubscriptionRef.set(checkpoint, committed)
      }).pipe(Effect.uninterruptible)

    /** A message whose application fails on its data is audited as Undecodable and skipped. */
    const commitOneByOne = (items: ReadonlyArray<Item>) =>
      Effect.forEach(items, (item) =>
        commitAlone([item]).pipe(
          Effect.catchIf(isDataError, (e) =>
            Effect.logError("event cannot be applied; recorded as Undecodable and skipped").pipe(
              Effect.annotateLogs({ streamSeq: item.streamSeq, error: e.message }),
              Effect.zipRight(
                commitAlone([{
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

    const messagesFrom = (startSeq: number) =>
      Effect.gen(function*() {
        const consumer = yield* Effect.tryPromise({
          try: () => js.consumers.get(streams.events, { opt_start_seq: startSeq, filter_subjects: subjects.eventsAll }),
          catch: (cause) => new NatsError({ operation: `ordered consumer on ${streams.events}`, cause })
        })
        const messages = yield* Effect.acquireRelease(
          Effect.tryPromise({
            // Short pulls: their heartbeats are how the ordered consumer notices a restarted nats-server
            // and resets; with the default 30 s pulls the read model stood still for up to that long.
            try: () => consumer.consume({ max_messages: Math.max(maxBatch * 2, 100), expires: pullExpiresMillis }),
            catch: (cause) => new NatsError({ operation: `consume ${streams.events}`, cause })
          }),
          // Closing stops delivery and ends a pending next() (the iterator's return() would wait for that
          // next() forever). Not awaited: it resolves only once every message already buffered was read.
          (messages) => Effect.sync(() => void messages.close())
        )
        const iterator = messages[Symbol.asyncIterator]()
        // The consumer's server is alive while it sends messages or, idle, heartbeats (the notifications
        // end when the messages close).
        let heardAt = Date.now()
        void (async () => {
          for await (const notification of messages.status()) if (notification.type === "heartbeat") heardAt = Date.now()
        })()
        /** Resolves once `next` stayed pending for silenceMillis with no heartbeat meanwhile. */
        const silence = (next: Promise<IteratorResult<JsMsg>>) => {
          const since = Date.now()
          let timer: ReturnType<typeof setInterval> | undefined
          const silent = new Promise<"silent">((resolve) => {
            timer = setInterval(() => {
              if (Date.now() - Math.max(since, heardAt) >= silenceMillis) resolve("silent")
            }, 1_000)
          })
          return Promise.race([next, silent]).finally(() => clearInterval(timer))
        }
        // Batches are collected off the iterator in plain promises (an Effect per message costs more than
        // applying it): the first message, then whatever else arrives within the window, up to maxBatch.
        // While the stream holds messages not yet delivered (the projector is behind), the batch waits for
        // them instead, up to catchUpMillis, until full. A session's first batch holds at most an eighth of
        // maxBatch (the limit then doubles with each batch): from a standing start, PostgreSQL starts on it
        // while the rest is still being decoded. A next() still pending when a batch closes is kept for the
        // following one.
        let pending: Promise<IteratorResult<JsMsg>> | undefined
        const pull = () => {
          const next = pending ?? iterator.next()
          pending = undefined
          return next
        }
        let limit = Math.ceil(maxBatch / 8)
        const nextBatch = async (): Promise<ReadonlyArray<Item> | undefined> => {
          const next = pull()
          const first = await silence(next)
          if (first === "silent") {
            throw new Error(`no message and no heartbeat for ${silenceMillis / 1_000} s: the consumer's server is likely gone`)
          }
          if (first.done === true) return undefined
          const batch: Array<Item> = [decodeMessage(first.value)]
          let behind = first.value.info.pending > 0
          const timers: Array<ReturnType<typeof setTimeout>> = []
          const after = (millis: number) =>
            new Promise<undefined>((resolve) => {
              timers.push(setTimeout(() => resolve(undefined), millis))
            })
          const window = after(windowMillis)
          const catchUp = after(Math.max(windowMillis, catchUpMillis))
          const pause = breather()
          try {
            while (batch.length < limit) {
              await pause()
              const next = pull()
              const result = await Promise.race([next, behind ? catchUp : window])
              if (result === undefined || result.done === true) {
                pending = next
                break
              }
              batch.push(decodeMessage(result.value))
              behind = result.value.info.pending > 0
            }
          } finally {
            for (const timer of timers) clearTimeout(timer)
          }
          limit = Math.min(maxBatch, limit * 2)
          return batch
        }
        return Stream.repeatEffectOption(
          Effect.tryPromise({
            try: nextBatch,
            catch: (cause) => Option.some(new NatsError({ operation: `read ${streams.events}`, cause }))
          }).pipe(Effect.flatMap((batch) => (batch === undefined ? Effect.fail(Option.none()) : Effect.succeed(batch))))
        )
      })

    /**
     * One consumer session from the stored checkpoint, with rows of its own. Three stages overlap: the
     * next batch is collected and decoded, the one before is read and folded, the one before that
     * commits. A session ends when its consumer ends or a commit fails (restarted with backoff), when
     * another projector moved the checkpoint, or when PostgreSQL rejected a batch on its data, once that
     * batch is applied one message at a time (both restarted at once).
     */
    const session = Effect.gen(function*() {
      yield* query("checkpoint row", () =>
        sql`insert into projection_checkpoints (name, stream_seq) values (${name}, 0) on conflict (name) do nothing`)
      const from = (yield* readCheckpoint(sql, name)) + 1
      yield* SubscriptionRef.set(checkpoint, from - 1)
      yield* Effect.logInfo("projector consuming").pipe(Effect.annotateLogs({ stream: streams.events, from }))
      const state = new ProjectionState()
      // Reads on a connection of their own: the commits hold another one.
      const reader = yield* Effect.acquireRelease(
        query("reserve a connection", () => sql.reserve()),
        (reserved) => Effect.sync(() => reserved.release())
      )
      let folded = from - 1 // the checkpoint once every batch folded so far commits
      let numbered = 0
      let committed = 0

      const prepare = (batch: ReadonlyArray<Item>) =>
        Effect.gen(function*() {
          const items = batch.filter((item) => item.streamSeq > folded)
          const last = items[items.length - 1]
          if (last === undefined) return Option.none<Prepared>()
          const undecodableCount = items.filter((item) => item._tag === "Undecodable").length
          if (undecodableCount > 0) yield* Effect.logWarning(`${undecodableCount} undecodable message(s) recorded and skipped`)
          const specs = yield* specsOf(items)
          const number = ++numbered
          // Rows untouched by the last two batches are read again when needed, once their batch committed.
          state.forgetUpTo(Math.min(committed, number - 3))
          const envelopes = items.filter(isEnvelope)
          yield* query("read batch rows", () => state.load(reader, envelopes, number))
          const statements = yield* query("fold batch", async () => {
            const pause = breather()
            for (const envelope of envelopes) {
              state.apply(envelope, specs)
              await pause()
            }
            const audit = auditStatement(auditRowsOf(items))
            await pause()
            return [audit, ...(await state.writes(pause))]
          })
          const after = folded
          folded = last.streamSeq
          return Option.some<Prepared>({ number, items, after, last: last.streamSeq, statements })
        }).pipe(Effect.withSpan("projections.prepareBatch", { attributes: { size: batch.length } }))

      const commit = (batch: Prepared) =>
        Effect.gen(function*() {
          yield* query("apply batch", () => sql.begin((tx) => commitPrepared(tx, name, batch))).pipe(
            Effect.catchIf(isDataError, (error) => new BatchRejected({ items: batch.items, error })),
            Effect.catchTag("DatabaseError", (error) => Effect.fail(error.cause instanceof CheckpointMoved ? error.cause : error))
          )
          committed = batch.number
          yield* SubscriptionRef.set(checkpoint, batch.last)
          yield* Effect.logDebug("batch projected").pipe(Effect.annotateLogs({ messages: batch.items.length, checkpoint: batch.last }))
        }).pipe(Effect.uninterruptible, Effect.withSpan("projections.applyBatch", { attributes: { size: batch.items.length } }))

      yield* Stream.unwrapScoped(messagesFrom(from)).pipe(
        Stream.buffer({ capacity: 1 }),
        Stream.mapEffect(prepare),
        Stream.filterMap((prepared) => prepared),
        Stream.buffer({ capacity: 1 }),
        Stream.mapEffect(commit),
        Stream.runDrain,
        Effect.zipRight(new ConsumerEnded()),
        Effect.catchTags({
          BatchRejected: ({ error, items }) =>
            Effect.logWarning("batch failed on its data; applying one by one").pipe(
              Effect.annotateLogs({ error: error.message }),
              Effect.zipRight(commitOneByOne(items))
            ),
          CheckpointMoved: (moved) => Effect.logInfo("another projector moved the checkpoint; resuming from it").pipe(
            Effect.annotateLogs({ expected: moved.expected })
          )
        })
      )
    }).pipe(Effect.scoped)

    const loop = session.pipe(
      Effect.tapErrorCause((cause) => Effect.logError("projector session ended; restarting", cause)),
      Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
      Effect.forever,
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
