/**
 * Liveness and readiness. `/healthz`: the API process answers. `/readyz`: the API can serve (NATS and
 * PostgreSQL answer within a deadline; 503 otherwise), with every role's latest report from KV
 * `berth_health` (orchestrator intake, projector lag, gateway), wherever those roles run, and the
 * roles that reported nothing recently listed as missing.
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Duration, Effect, Schema } from "effect"
import { Nats } from "../nats/Nats.js"
import { natsCheck, postgresCheck } from "../health/checks.js"
import { openInBackground } from "../nats/buckets.js"
import { describeReplication } from "../nats/replicas.js"
import { openHealthBucket } from "../health/HealthReporter.js"
import { allReady, RoleHealth } from "../health/RoleHealth.js"
import { Database } from "../projections/Database.js"
import { berthRoles } from "../roles/roles.js"
import { BerthApi } from "./BerthApi.js"
import { type Readiness, RoleReport } from "./healthViews.js"

const decodeReport = Schema.decodeUnknownOption(Schema.parseJson(RoleHealth))

export const HealthLive = HttpApiBuilder.group(BerthApi, "health", (handlers) =>
  Effect.gen(function* () {
    const nats = yield* Nats
    const { sql } = yield* Database
    const bucket = yield* openInBackground(openHealthBucket(nats))

    const roleReports = Effect.flatMap(bucket, (kv) => Effect.tryPromise(async () => {
      const reports: Array<typeof RoleReport.Type> = []
      const now = Date.now()
      for await (const key of await kv.keys()) {
        const entry = await kv.get(key)
        if (entry === null || entry.operation !== "PUT") continue
        const report = decodeReport(entry.string())
        if (report._tag === "Some") reports.push({ ...report.value, ageMs: Math.max(0, now - report.value.at) })
      }
      return reports.sort((a, b) => a.role.localeCompare(b.role) || a.instance.localeCompare(b.instance))
    })).pipe(Effect.timeout(Duration.seconds(2)), Effect.orElseSucceed((): ReadonlyArray<typeof RoleReport.Type> => []))

    const readiness = Effect.gen(function* () {
      const [natsState, postgres, roles] = yield* Effect.all([natsCheck(nats), postgresCheck(sql), roleReports], { concurrency: "unbounded" })
      // Informational: how many copies JetStream keeps of every stream (src/nats/replicas.ts).
      const checks = { nats: natsState, postgres, replication: { ok: true, detail: describeReplication(nats.replication) } }
      const missing = berthRoles.filter((role) => !roles.some((report) => report.role === role))
      const status: Readiness["status"] = !allReady(checks)
        ? "unavailable"
        : missing.length > 0 || roles.some((report) => !report.ready) ? "degraded" : "ready"
      return { status, checks, roles, missing } satisfies Readiness
    })

    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const, pid: process.pid, uptimeSeconds: Math.round(process.uptime()) }))
      .handleRaw("readyz", () =>
        Effect.flatMap(readiness, (report) =>
          HttpServerResponse.json(report, {
            status: report.status === "unavailable" ? 503 : 200,
            headers: report.status === "unavailable" ? { "retry-after": "5" } : {}
          })
        ).pipe(Effect.orDie)
      )
  })
)
