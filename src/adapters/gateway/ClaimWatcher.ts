/**
 * Follows the hostname claims (KV bucket `berth_hostnames`, see src/adapters/claims/) for the
 * gateway: hostname -> the project holding it, read synchronously on the request path. The gateway
 * routes a hostname only to the project that holds its claim, so a route table naming another
 * project's hostname (a stale table, a second Berth writing routes, a hand edit) never takes its
 * traffic. Fails closed: until the claims are replayed, and for a hostname nobody claimed, `holder`
 * is undefined and the gateway answers 404.
 *
 * A watch that ends, fails or stalls (the bucket moved on and the watch did not) is opened again; the
 * claims already known keep serving meanwhile (claims are never released, so they cannot go stale).
 */
import type { KV } from "@nats-io/kv"
import { Deferred, Duration, Effect, Option, Schedule, type Scope } from "effect"
import { openInBackground, openKv } from "../../nats/buckets.js"
import { Nats } from "../../nats/Nats.js"
import { buckets } from "../../nats/subjects.js"
import { claimKey } from "../claims/HostnameClaims.js"
import { GatewayError } from "./GatewayError.js"

export interface ClaimWatcher {
  /** The project holding the hostname's claim (a normalised hostname, as RouteIndex keys them). */
  readonly holder: (hostname: string) => string | undefined
  /** Completes once the claims present when watching began have been read. */
  readonly ready: Effect.Effect<void>
}

const operation = `watch KV ${buckets.hostnames}`

const kvCall = <A>(what: string, f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (cause) => new GatewayError({ operation: what, cause }) })

/** One watch from the current claims onwards; `ready` once they are replayed. */
const watchGeneration = (
  kv: KV,
  holders: Map<string, string>,
  ready: Deferred.Deferred<void>,
  stallCheck: Duration.DurationInput
): Effect.Effect<void, GatewayError> =>
  Effect.scoped(
    Effect.gen(function* () {
      let seen = 0
      const status = yield* kvCall(`status of KV ${buckets.hostnames}`, () => kv.status())
      // An empty bucket replays nothing, so nothing would mark the replay as done.
      if (status.values === 0) yield* Deferred.succeed(ready, undefined)
      const entries = yield* Effect.acquireRelease(
        kvCall(operation, () => kv.watch({ key: ">" })),
        (watch) => Effect.sync(() => watch.stop())
      )
      const iterator = entries[Symbol.asyncIterator]()
      const follow = Effect.gen(function* () {
        while (true) {
          const entry = yield* kvCall(operation, async () => {
            const step = await iterator.next()
            return step.done === true ? null : step.value
          })
          if (entry === null) return yield* Effect.logInfo("gateway: claims watch ended")
          if (entry.operation === "PUT") holders.set(entry.key, entry.string())
          else holders.delete(entry.key)
          seen = Math.max(seen, entry.revision)
          if (entry.isUpdate || entry.delta === 0) yield* Deferred.succeed(ready, undefined)
        }
      })
      const stalled = Effect.gen(function* () {
        let behindAt: number | null = null
        while (true) {
          yield* Effect.sleep(stallCheck)
          const state = yield* kvCall(`status of KV ${buckets.hostnames}`, () => kv.status()).pipe(
            Effect.map((s) => s.streamInfo.state),
            Effect.option
          )
          const head = Option.match(state, { onNone: () => 0, onSome: (s) => (s.messages > 0 ? s.last_seq : 0) })
          if (head > seen && behindAt === seen) {
            return yield* new GatewayError({ operation, cause: `stalled at revision ${seen}; the bucket is at ${head}` })
          }
          behindAt = head > seen ? seen : null
        }
      })
      yield* Effect.raceFirst(follow, stalled)
    })
  )

export const watchClaims = (options: { readonly stallCheck?: Duration.DurationInput } = {}): Effect.Effect<ClaimWatcher, never, Scope.Scope | Nats> =>
  Effect.gen(function* () {
    // The orchestrator creates the bucket; the gateway waits for it in the background.
    const bucket = yield* openInBackground(openKv(yield* Nats, buckets.hostnames, { history: 1 }))
    const ready = yield* Deferred.make<void>()
    const holders = new Map<string, string>()
    yield* Effect.flatMap(bucket, (kv) => watchGeneration(kv, holders, ready, options.stallCheck ?? Duration.seconds(5))).pipe(
      Effect.tapErrorCause((cause) => Effect.logWarning("gateway: claims watch failed; watching again", cause)),
      Effect.either,
      Effect.repeat(Schedule.union(Schedule.exponential(Duration.millis(250)), Schedule.spaced(Duration.seconds(5)))),
      Effect.forkScoped
    )
    return {
      holder: (hostname) => holders.get(claimKey(hostname)),
      ready: Deferred.await(ready)
    }
  })
