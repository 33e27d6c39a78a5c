/**
 * The health endpoints' bodies (see health.ts).
 */
import { Schema } from "effect"
import { Check, RoleHealth } from "../health/RoleHealth.js"

export const Liveness = Schema.Struct({
  status: Schema.Literal("ok"),
  pid: Schema.Number,
  uptimeSeconds: Schema.Number
}).annotations({ identifier: "Liveness" })

export const RoleReport = Schema.Struct({
  ...RoleHealth.fields,
  /** How old the report is; reports expire after a few seconds without a heartbeat. */
  ageMs: Schema.Number
}).annotations({ identifier: "RoleReport" })

export const Readiness = Schema.Struct({
  /** "ready" when the API can serve; "degraded" when it can but a role is missing or not ready. */
  status: Schema.Literal("ready", "degraded", "unavailable"),
  checks: Schema.Record({ key: Schema.String, value: Check }),
  roles: Schema.Array(RoleReport),
  /** Roles without a recent report (not running, crashed, or cut off from NATS). */
  missing: Schema.Array(Schema.String)
}).annotations({ identifier: "Readiness" })
export type Readiness = typeof Readiness.Type

