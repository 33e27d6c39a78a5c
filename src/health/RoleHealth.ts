/**
 * What each role process reports about itself: liveness is "it reported recently", readiness is
 * "every one of its checks passes". Reports live in KV `berth_health` (key `<role>.<instance>`), a
 * bucket whose entries expire, so a process that died or lost NATS drops out by itself.
 */
import { Schema } from "effect"

export const Check = Schema.Struct({
  ok: Schema.Boolean,
  detail: Schema.String
})
export type Check = typeof Check.Type

export const RoleHealth = Schema.Struct({
  role: Schema.String,
  /** `<host>-<pid>`: several processes may run one role (on several machines). */
  instance: Schema.String,
  pid: Schema.Number,
  host: Schema.String,
  startedAt: Schema.Number,
  /** When this report was written (epoch ms). */
  at: Schema.Number,
  ready: Schema.Boolean,
  checks: Schema.Record({ key: Schema.String, value: Check })
})
export type RoleHealth = typeof RoleHealth.Type

/** How often a role reports, and how long a report counts before the process is taken for gone. */
export const reportEveryMs = 2_000
export const reportTtlMs = 10_000

export const healthKey = (role: string, instance: string): string => `${role}.${instance}`

export const allReady = (checks: Readonly<Record<string, Check>>): boolean => Object.values(checks).every((check) => check.ok)
