/**
 * Follows the RoutingService's KV route table (bucket `berth_routes`) for the gateway: every
 * project's latest table, decoded and folded into a RouteIndex that `lookup` reads synchronously on
 * the request path. A watch that ends, fails or stalls (the bucket moved on and the watch did not, as
 * when its consumer is deleted) is opened again; until the new one has replayed the current tables,
 * the previous index keeps serving.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv"
import { Deferred, Duration, Effect, Either, Option, ParseResult, Schedule, Schema, type Scope } from "effect"
import { openInBackground, openKv } from "../../nats/buckets.js"
import { Nats } from "../../nats/Nats.js"
import { buckets } from "../../nats/subjects.js"
import { StoredRouteTableSchema } from "../routing/KvRoutingService.js"
import type { StoredRouteTable } from "../routing/RoutingService.js"
import { GatewayError } from "./GatewayError.js"
import { watchClaims } from "./ClaimWatcher.js"
import { buildRouteIndex, emptyRouteIndex, hostnameOf, routeFor, type RouteIndex, type RouteTarget } from "./RouteIndex.js"
import { formatParseIssues } from "../../shared/parseIssues.js"

export interface RouteWatcher {
  /** The target serving a Host header (port and case ignored), if any. */
  readonly lookup: (host: string | undefined) => RouteTarget | undefined
  /** Completes once the tables present when watching began have been read. */
  readonly ready: Effect.Effect<void>
}

export interface RouteWatcherOptions {
  /** How often the watch is checked against the bucket's head; two checks behind mean it stalled (5 s). */
  readonly stallCheck?: Duration.DurationInput
}

interface Held {
  readonly revision: number
  readonly table: StoredRouteTable
}

const decodeTable = Schema.decodeUnknownEither(Schema.parseJson(StoredRouteTableSchema))

const describe = (error: ParseResult.ParseError): string => formatParseIssues(error, { fallback: error.message })

const kvCall = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new GatewayError({ operation, cause }) })

const watchOperation = `watch KV ${buckets.routes}`

/** Folds one watch entry into a project's tables (DEL/PURGE and undecodable values remove the project). */
const apply = (tables: Map<string, Held>, entry: KvWatchEntry) =>
  Effect.gen(function* () {
    if (entry.operation !== "PUT") {
      tables.delete(entry.key)
      return
    }
    const decoded = decodeTable(entry.string())
    if (Either.isLeft(decoded)) {
      tables.delete(entry.key)
      return yield* Effect.logWarning("gateway: skipping undecodable route table").pipe(
        Effect.annotateLogs({ projectId: entry.key, revision: entry.revision, error: describe(decoded.left) })
      )
    }
    tables.set(entry.key, { revision: entry.revision, table: decoded.right })
  })

/** Fails when, twice in a row, the bucket holds a revision the watch has not delivered. */
const stallGuard = (kv: KV, seen: () => number, every: Duration.DurationInput) =>
  Effect.gen(function* () {
    let behindAt: number | null = null
    while (true) {
      yield* Effect.sleep(every)
      const state = yield* kvCall(`status of KV ${buckets.routes}`, () => kv.status()).pipe(
        Effect.map((status) => status.streamInfo.state),
        Effect.option
      )
      const revision = seen()
      const head = Option.match(state, { onNone: () => 0, onSome: (s) => (s.messages > 0 ? s.last_seq : 0) })
      if (head > revision && behindAt === revision) {
        return yield* new GatewayError({ operation: watchOperation, cause: `stalled at revision ${revision}; the bucket is at ${head}` })
      }
      behindAt = head > revision ? revision : null
    }
  })

/** One watch from the tables' current values onwards; publishes once they are replayed, then on every change. */
const watchGeneration = (
  kv: KV,
  publish: (tables: ReadonlyMap<string, Held>) => Effect.Effect<void>,
  stallCheck: Duration.DurationInput
): Effect.Effect<void, GatewayError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const tables = new Map<string, Held>()
      let seen = 0
      // An empty bucket replays nothing, so nothing would mark the replay as done.
      const status = yield* kvCall(`status of KV ${buckets.routes}`, () => kv.status())
      let replayed = status.values === 0
      if (replayed) yield* publish(tables)
      const entries = yield* Effect.acquireRelease(
        kvCall(watchOperation, () => kv.watch({ key: ">" })),
        (watch) => Effect.sync(() => watch.stop())
      )
      const iterator = entries[Symbol.asyncIterator]()
      const next = kvCall(watchOperation, async () => {
        const step = await iterator.next()
        return step.done === true ? null : step.value
      })
      const follow = Effect.gen(function* () {
        while (true) {
          const entry = yield* next
          if (entry === null) return yield* Effect.logInfo("gateway: route watch ended")
          yield* apply(tables, entry)
          seen = Math.max(seen, entry.revision)
          if (entry.isUpdate) replayed = true
          if (replayed) yield* publish(tables)
        }
      })
      yield* Effect.raceFirst(follow, stallGuard(kv, () => seen, stallCheck))
    })
  )

export const watchRoutes = (options: RouteWatcherOptions = {}): Effect.Effect<RouteWatcher, GatewayError, Scope.Scope | Nats> =>
  Effect.gen(function* () {
    // The orchestrator creates the bucket; the gateway (which may not) waits for it in the background.
    const routes = yield* openInBackground(openKv(yield* Nats, buckets.routes, { history: 5 }))
    const ready = yield* Deferred.make<void>()
    // Routes are served only to the project holding each hostname's claim.
    const claims = yield* watchClaims(options.stallCheck === undefined ? {} : { stallCheck: options.stallCheck })
    let index: RouteIndex = emptyRouteIndex

    const publish = (tables: ReadonlyMap<string, Held>) =>
      Effect.suspend(() => {
        index = buildRouteIndex([...tables.values()].sort((a, b) => a.revision - b.revision).map((held) => held.table))
        return Deferred.succeed(ready, undefined)
      })

    yield* Effect.flatMap(routes, (kv) => watchGeneration(kv, publish, options.stallCheck ?? Duration.seconds(5))).pipe(
      Effect.tapErrorCause((cause) => Effect.logWarning("gateway: route watch failed; watching again", cause)),
      Effect.either,
      Effect.repeat(Schedule.union(Schedule.exponential(Duration.millis(250)), Schedule.spaced(Duration.seconds(5)))),
      Effect.forkScoped
    )

    return {
      lookup: (host) => routeFor(index, hostnameOf(host), claims.holder),
      ready: Effect.zipRight(Deferred.await(ready), claims.ready)
    }
  })
