/**
 * Partition leases: which orchestrator decides for which partition, held in KV `berth_partitions`.
 *
 * - `members.<instance>`: each orchestrator taking part, rewritten every renewal.
 * - `partitions.<n>`: the lease of partition n, `{owner}`. Taken with a create (only when the key is
 *   absent or deleted), renewed with an update on the revision we hold (CAS), released with a delete
 *   on that revision. A lease nobody renews disappears: the bucket's max_age is the TTL (nats-server
 *   2.9 has no per-key TTL, and max_age ages each key's latest write, which is what a renewal rewrites).
 *
 * Safety: a renewal sent at local time t is stored no earlier than t, so it cannot expire before
 * t + TTL. We stop deciding at t + TTL - TTL/5 (`holds` turns false by the monotonic clock, without
 * waiting for any fiber), so our decisions end before anyone else can create the key. A process frozen
 * past that (SIGSTOP, a long GC) cannot stop itself: the events stream's expected-last-subject-sequence
 * fences its late appends, and `holds` refuses everything after it wakes.
 *
 * Liveness: renew every TTL/4; every TTL/10 (and at once on any change in the bucket) work out the fair
 * share (assignment.ts) of the members seen alive, release what is no longer ours (after the handlers
 * drained it: hand-over without a gap, the next owner sees the delete at once) and try to take what is
 * ours and looks free. Expiry produces no KV event, so "looks free" is "no write seen for a TTL"; the
 * create decides.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"
import type { KV, KvWatchEntry } from "@nats-io/kv"
import { Data, Deferred, Duration, Effect, Fiber, Option, Queue, Schedule, type Scope } from "effect"
import { NatsError } from "../nats/Nats.js"
import { shareOf } from "./assignment.js"

export interface LeaseHandlers {
  /** Newly held: start taking their commands and resume their in-flight deployments. */
  readonly acquired: (partitions: ReadonlyArray<number>) => Effect.Effect<void>
  /** Given up on purpose (rebalance, shutdown): stop taking their commands, drain and stop their actors. */
  readonly releasing: (partitions: ReadonlyArray<number>) => Effect.Effect<void>
  /** Lost (the lease lapsed, or another holds it): stop deciding for them at once. */
  readonly lost: (partitions: ReadonlyArray<number>) => Effect.Effect<void>
}

export interface LeaseStatus {
  readonly instance: string
  readonly partitions: number
  readonly ttlMs: number
  readonly owned: ReadonlyArray<number>
  /** Members seen alive (this one included). */
  readonly members: ReadonlyArray<string>
  /** Partitions whose lease no live member holds, as far as this member has seen. */
  readonly unowned: number
}

export interface PartitionLeases {
  /** Whether this process may decide for `partition` right now. Synchronous: checked before every decision. */
  readonly holds: (partition: number) => boolean
  readonly status: Effect.Effect<LeaseStatus>
  /** Takes part until the scope closes; then hands every partition over (drained, leases deleted). */
  readonly run: (handlers: LeaseHandlers) => Effect.Effect<void, NatsError, Scope.Scope>
}

class LeaseTaken extends Data.TaggedError("LeaseTaken")<{ readonly key: string }> {}

interface Held {
  revision: number
  /** performance.now() after which we no longer decide for it. */
  validUntil: number
  releasing: boolean
}

interface Seen {
  readonly operation: KvWatchEntry["operation"]
  readonly revision: number
  readonly owner: string | undefined
  /** performance.now() when the write was made (estimated for a watcher's initial values). */
  readonly at: number
}

export const leaseKey = (partition: number): string => `partitions.${partition}`
export const memberKey = (instance: string): string => `members.${instance}`
/** KV keys allow [-/_=.a-zA-Z0-9]. */
export const instanceKeyOf = (instance: string): string => instance.replace(/[^-_=a-zA-Z0-9]/g, "_")

const encoder = new TextEncoder()

const isWrongSequence = (cause: unknown): boolean =>
  cause instanceof JetStreamApiError &&
  (cause.code === JetStreamApiCodes.StreamWrongLastSequence || cause.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)

const ownerOf = (entry: KvWatchEntry): string | undefined => {
  if (entry.operation !== "PUT") return undefined
  try {
    const value: unknown = entry.json()
    return typeof value === "object" && value !== null && "owner" in value && typeof value.owner === "string" ? value.owner : undefined
  } catch {
    return undefined
  }
}

export const makePartitionLeases = (options: {
  readonly kv: KV
  readonly instance: string
  readonly partitions: number
  /** The bucket's max_age. */
  readonly ttl: Duration.Duration
}): PartitionLeases => {
  const { kv, partitions } = options
  const instance = instanceKeyOf(options.instance)
  const ttlMs = Duration.toMillis(options.ttl)
  const renewEveryMs = ttlMs / 4
  const safetyMs = ttlMs / 5
  const reconcileEveryMs = Math.max(100, ttlMs / 10)
  const held = new Map<number, Held>()
  /** Lost, and their handler not done yet: not taken again before it is (it would stop the new consumer). */
  const stopping = new Set<number>()
  const seen = new Map<string, Seen>()
  const now = () => performance.now()
  const value = encoder.encode(JSON.stringify({ owner: instance }))

  const holds = (partition: number): boolean => {
    const lease = held.get(partition)
    return lease !== undefined && now() < lease.validUntil
  }

  const alive = (entry: Seen | undefined, at: number) => entry !== undefined && entry.operation === "PUT" && at - entry.at < ttlMs
  /** The fair share for a member list, worked out again only when the list changes. */
  let shareFor: { readonly members: string; readonly share: ReadonlySet<number> } | undefined
  const shareOfMembers = (current: ReadonlyArray<string>): ReadonlySet<number> => {
    const key = current.join(" ")
    if (shareFor?.members !== key) shareFor = { members: key, share: shareOf(instance, current, partitions) }
    return shareFor.share
  }
  const members = (): ReadonlyArray<string> => {
    const at = now()
    const found = new Set([instance])
    for (const [key, entry] of seen) if (key.startsWith("members.") && alive(entry, at)) found.add(key.slice("members.".length))
    return [...found].sort()
  }

  const status = Effect.sync((): LeaseStatus => {
    const at = now()
    let unowned = 0
    for (let p = 0; p < partitions; p++) if (!holds(p) && !alive(seen.get(leaseKey(p)), at)) unowned++
    return {
      instance,
      partitions,
      ttlMs,
      owned: [...held.keys()].filter(holds).sort((a, b) => a - b),
      members: members(),
      unowned
    }
  })

  const kvCall = <A>(operation: string, run: () => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (cause) => (isWrongSequence(cause) ? new LeaseTaken({ key: operation }) : new NatsError({ operation, cause }))
    }).pipe(Effect.timeoutFail({ duration: Duration.millis(renewEveryMs), onTimeout: () => new NatsError({ operation, cause: "timed out" }) }))

  const run = (handlers: LeaseHandlers) =>
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const lock = yield* Effect.makeSemaphore(1)
      const wake = yield* Queue.sliding<void>(1)
      const joined = yield* Deferred.make<void>()

      /**
       * Forgets leases that lapsed or were taken (at once: `holds` is false from here), and tells the
       * handlers under the lock, in the background, so a renewal never waits behind a hand-over.
       */
      const drop = (lost: ReadonlyArray<number>, why: string) =>
        lost.length === 0
          ? Effect.void
          : Effect.suspend(() => {
              for (const p of lost) {
                held.delete(p)
                stopping.add(p)
              }
              return Effect.logWarning(`partition lease(s) lost: ${why}; stopped deciding for them`).pipe(
                Effect.annotateLogs({ partitions: lost.join(",") }),
                Effect.zipRight(lock.withPermits(1)(handlers.lost(lost))),
                Effect.ensuring(
                  Effect.sync(() => {
                    for (const p of lost) stopping.delete(p)
                    wake.unsafeOffer(undefined)
                  })
                ),
                Effect.forkIn(scope),
                Effect.asVoid
              )
            })

      const lapsed = Effect.suspend(() => {
        const at = now()
        return drop([...held].filter(([, lease]) => at >= lease.validUntil).map(([p]) => p), "not renewed in time")
      })

      // The watcher: every write to the bucket (a renewal, a take-over, a release) as it happens; watched
      // again if it ends (NATS restarted), its first values then being the bucket as it is.
      const watchOnce = Effect.acquireUseRelease(
        Effect.tryPromise({ try: () => kv.watch({ key: ">" }), catch: (cause) => new NatsError({ operation: "watch partition leases", cause }) }),
        (watcher) =>
          Effect.tryPromise(async () => {
            for await (const entry of watcher) {
              const wall = Date.now()
              const at = entry.isUpdate ? now() : now() - Math.min(ttlMs, Math.max(0, wall - entry.created.getTime()))
              const before = seen.get(entry.key)
              const owner = ownerOf(entry)
              seen.set(entry.key, { operation: entry.operation, revision: entry.revision, owner, at })
              // Our own membership seen: everything written before it (the bucket as it was) has been too.
              if (entry.key === memberKey(instance)) Deferred.unsafeDone(joined, Effect.void)
              // A renewal changes nothing to work out; a member or lease appearing, leaving or changing hands does.
              const renewal = entry.operation === "PUT" && alive(before, now()) && before?.owner === owner
              if (!renewal) wake.unsafeOffer(undefined)
            }
          }),
        (watcher) => Effect.sync(() => watcher.stop())
      )
      yield* watchOnce.pipe(Effect.ignore, Effect.zipRight(Effect.sleep(Duration.millis(500))), Effect.forever, Effect.forkScoped)

      const renew = (partition: number, lease: Held) =>
        Effect.suspend(() => {
          const sentAt = now()
          return kvCall(`renew ${leaseKey(partition)}`, () => kv.update(leaseKey(partition), value, lease.revision)).pipe(
            Effect.map((revision) => {
              lease.revision = revision
              lease.validUntil = Math.max(lease.validUntil, sentAt + ttlMs - safetyMs)
              return Option.none<number>()
            }),
            Effect.catchTag("LeaseTaken", () => Effect.succeed(Option.some(partition))),
            Effect.catchTag("NatsError", (error) => Effect.as(Effect.logDebug("lease renewal failed; retried next round", error.message), Option.none()))
          )
        })

      const renewAll = Effect.gen(function* () {
        yield* kvCall("renew membership", () => kv.put(memberKey(instance), value)).pipe(Effect.ignore)
        const taken = yield* Effect.forEach(
          [...held].filter(([, lease]) => !lease.releasing),
          ([partition, lease]) => renew(partition, lease),
          { concurrency: "unbounded" }
        )
        yield* drop(taken.flatMap(Option.toArray), "another orchestrator holds them")
        yield* lapsed
      })

      const acquire = (partition: number) =>
        Effect.suspend(() => {
          const sentAt = now()
          return kvCall(`take ${leaseKey(partition)}`, () => kv.create(leaseKey(partition), value)).pipe(
            Effect.map((revision) => {
              held.set(partition, { revision, validUntil: sentAt + ttlMs - safetyMs, releasing: false })
              return [partition]
            }),
            Effect.catchAll(() => Effect.succeed([]))
          )
        })

      /** Deletes our lease on the revision we last wrote; a renewal landing meanwhile moves it, so try again on it. */
      const deleteLease = (partition: number, lease: Held) =>
        Effect.suspend(() =>
          now() >= lease.validUntil
            ? Effect.void
            : kvCall(`release ${leaseKey(partition)}`, () => kv.delete(leaseKey(partition), { previousSeq: lease.revision }))
        ).pipe(
          Effect.retry({ times: 3, while: (error) => error._tag === "LeaseTaken", schedule: Schedule.spaced(Duration.millis(50)) }),
          Effect.ignore
        )

      /** The handlers stop and drain the partitions (renewals go on meanwhile), then the leases go. */
      const release = (partitions: ReadonlyArray<number>) =>
        Effect.gen(function* () {
          if (partitions.length === 0) return
          yield* handlers.releasing(partitions)
          yield* Effect.forEach(
            partitions,
            (p) => {
              const lease = held.get(p)
              if (lease === undefined) return Effect.void
              lease.releasing = true
              return Effect.ensuring(deleteLease(p, lease), Effect.sync(() => held.delete(p)))
            },
            { concurrency: "unbounded", discard: true }
          )
          yield* Effect.logInfo(`released ${partitions.length} partition(s) to their next owner`).pipe(
            Effect.annotateLogs({ partitions: partitions.join(",") })
          )
        })

      const reconcile = lock.withPermits(1)(
        Effect.gen(function* () {
          const at = now()
          // Someone else's write on a lease we hold: ours lapsed on the server (we were frozen, or cut off).
          yield* drop(
            [...held].filter(([p, lease]) => {
              const entry = seen.get(leaseKey(p))
              return entry !== undefined && entry.revision > lease.revision && entry.operation === "PUT" && entry.owner !== instance
            }).map(([p]) => p),
            "another orchestrator took them over"
          )
          const share = shareOfMembers(members())
          yield* release([...held.keys()].filter((p) => !share.has(p)))
          const wanted = [...share].filter((p) => !held.has(p) && !stopping.has(p) && !alive(seen.get(leaseKey(p)), at))
          const taken = (yield* Effect.forEach(wanted, acquire, { concurrency: "unbounded" })).flat()
          if (taken.length > 0) {
            yield* Effect.logInfo(`took ${taken.length} partition(s)`).pipe(Effect.annotateLogs({ partitions: taken.join(",") }))
            yield* handlers.acquired(taken)
          }
        })
      )

      yield* kvCall("join", () => kv.put(memberKey(instance), value)).pipe(
        Effect.catchTag("LeaseTaken", (error) => new NatsError({ operation: "join the partition leases", cause: error }))
      )
      // The first share is worked out once the bucket as it was has been read (the others, their leases).
      yield* Deferred.await(joined).pipe(Effect.timeout(Duration.millis(renewEveryMs)), Effect.ignore)
      const renewing = yield* renewAll.pipe(Effect.repeat(Schedule.spaced(Duration.millis(renewEveryMs))), Effect.forkScoped)
      const reconciling = yield* Effect.gen(function* () {
        for (;;) {
          yield* reconcile
          yield* Queue.take(wake).pipe(Effect.timeout(Duration.millis(reconcileEveryMs)), Effect.ignore)
          // Coalesce a burst of watcher events into one pass.
          yield* Effect.sleep(Duration.millis(5))
          yield* Queue.takeAll(wake)
        }
      }).pipe(Effect.forkScoped)

      // Hand-over on the way out: stop reconciling first (no new take), renew while draining, then leave.
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Fiber.interrupt(reconciling)
          yield* lock.withPermits(1)(release([...held.keys()]))
          yield* Fiber.interrupt(renewing)
          yield* kvCall("leave", () => kv.delete(memberKey(instance))).pipe(Effect.ignore)
        })
      )
    })

  return { holds, status, run }
}
