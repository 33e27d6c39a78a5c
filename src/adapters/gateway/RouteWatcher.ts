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
import { emptyRouteIndex, hostnameOf, projectRoutes, routeFor, type RouteIndex, type RouteTarget } from "./RouteIndex.js"
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

/**
 * One watch's tables (KV key -> its latest table) and the index derived from them. A change re-derives
 * only the projects its old and new table name, so its cost is one project's size, not every route.
 */
const makeTables = () => {
  const tables = new Map<string, Held>()
  const keysOf = new Map<string, Set<string>>()
  const index = new Map<string, ReadonlyMap<string, RouteTarget>>()

  const reindex = (projectId: string) => {
    const own = [...(keysOf.get(projectId) ?? [])].flatMap((key) => {
      const held = tables.get(key)
      return held === undefined ? [] : [held]
    })
    if (own.length === 0) index.delete(projectId)
    else index.set(projectId, projectRoutes(own.sort((a, b) => a.revision - b.revision).map((held) => held.table)))
  }

  /** The table under `key` is now `held` (undefined: gone); returns the projects whose routes changed. */
  const set = (key: string, held: Held | undefined): ReadonlyArray<string> => {
    const previous = tables.get(key)
    if (previous !== undefined) {
      tables.delete(key)
      const keys = keysOf.get(previous.table.projectId)
      keys?.delete(key)
      if (keys?.size === 0) keysOf.delete(previous.table.projectId)
    }
    if (held !== undefined) {
      tables.set(key, held)
      const keys = keysOf.get(held.table.projectId) ?? new Set<string>()
      keys.add(key)
      keysOf.set(held.table.projectId, keys)
    }
    return [...new Set([previous?.table.projectId, held?.table.projectId].filter((id): id is string => id !== undefined))]
  }

  const reindexAll = () => {
    index.clear()
    for (const projectId of keysOf.keys()) reindex(projectId)
  }

  return { index: index as RouteIndex, set, reindex, reindexAll }
}

/** Folds one watch entry into the tables (DEL/PURGE and undecodable values remove the key's table). */
const apply = (tables: ReturnType<typeof makeTables>, entry: KvWatchEntry) =>
  Effect.gen(function* () {
    if (entry.operation !== "PUT") return tables.set(entry.key, undefined)
    const decoded = decodeTable(entry.string())
    if (Either.isLeft(decoded)) {
      yield* Effect.logWarning("gateway: skipping undecodable route table").pipe(
        Effect.annotateLogs({ projectId: entry.key, revision: entry.revision, error: describe(decoded.left) })
      )
      return tables.set(entry.key, undefined)
    }
    return tables.set(entry.key, { revision: entry.revision, table: decoded.right })
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

/**
 * One watch from the tables' current values onwards: publishes its index once they are replayed (until
 * then the previous watch's index serves), then keeps it up to date one change at a time.
 */
const watchGeneration = (
  kv: KV,
  publish: (index: RouteIndex) => Effect.Effect<void>,
  stallCheck: Duration.DurationInput
): Effect.Effect<void, GatewayError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const tables = makeTables()
      let seen = 0
      // An empty bucket replays nothing, so nothing would mark the replay as done.
      const status = yield* kvCall(`status of KV ${buckets.routes}`, () => kv.status())
      let replayed = status.values === 0
      if (replayed) yield* publish(tables.index)
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
          const changed = yield* apply(tables, entry)
          seen = Math.max(seen, entry.revision)
          if (replayed) {
            changed.forEach(tables.reindex)
          } else if (entry.isUpdate) {
            replayed = true
            tables.reindexAll()
            yield* publish(tables.index)
          }
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

    const publish = (next: RouteIndex) =>
      Effect.suspend(() => {
        index = next
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
