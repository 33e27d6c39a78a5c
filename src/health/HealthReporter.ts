/**
 * A role's heartbeat: every couple of seconds it runs its checks and writes the result to KV
 * `berth_health`. The bucket's max_age is the report's lifetime (nats-server 2.9 has no per-key TTL),
 * so the API and `berth status` see a role that stopped reporting as gone, wherever it ran.
 */
import { hostname } from "node:os"
import type { KV } from "@nats-io/kv"
import { Duration, Effect, Layer, Schedule } from "effect"
import { openInBackground, openKv } from "../nats/buckets.js"
import { Nats, type NatsError, type NatsService } from "../nats/Nats.js"
import { buckets } from "../nats/subjects.js"
import { allReady, type Check, healthKey, reportEveryMs, reportTtlMs, type RoleHealth } from "./RoleHealth.js"
import { natsCheck } from "./checks.js"

/** Created by the orchestrator; the other roles wait for it (their NATS users may not create it). */
export const openHealthBucket = (nats: Pick<NatsService, "nc" | "jsm" | "streams">): Effect.Effect<KV, NatsError> =>
  openKv(nats, buckets.health, { history: 1, ttl: reportTtlMs })

export const instanceId = `${hostname()}-${process.pid}`

/**
 * Reports `role` with the NATS check plus `checks` (the role's own) until the scope closes, then
 * removes its report so a clean stop is not mistaken for a crash.
 */
export const HealthReporter = <R>(role: string, checks: Effect.Effect<Record<string, Check>, never, R>) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const nats = yield* Nats
      // In the background: a role whose bucket is not there yet starts anyway and reports once it is.
      const bucket = yield* openInBackground(openHealthBucket(nats))
      const key = healthKey(role, instanceId)
      const startedAt = Date.now()
      const report = Effect.gen(function* () {
        const all = { nats: yield* natsCheck(nats), ...(yield* checks) }
        const health: RoleHealth = {
          role,
          instance: instanceId,
          pid: process.pid,
          host: hostname(),
          startedAt,
          at: Date.now(),
          ready: allReady(all),
          checks: all
        }
        yield* Effect.flatMap(bucket, (kv) => Effect.tryPromise(() => kv.put(key, JSON.stringify(health)))).pipe(
          Effect.timeout(Duration.seconds(2)),
          // NATS being away is what the other roles' reports (and this one's absence) show.
          Effect.catchAll((error) => Effect.logDebug("health report not written", String(error)))
        )
      })
      yield* Effect.addFinalizer(() =>
        Effect.flatMap(bucket, (kv) => Effect.tryPromise(() => kv.delete(key))).pipe(Effect.timeout(Duration.seconds(1)), Effect.ignore)
      )
      yield* report.pipe(Effect.repeat(Schedule.spaced(Duration.millis(reportEveryMs))), Effect.forkScoped)
    })
  )
