/**
 * The command intake's health, for readiness checks (/readyz): is the `berth-intake` consumer being
 * consumed right now, since when, the last error that stopped it, and how many projects are
 * quarantined or have a running actor. Provided by the orchestrator layer (CommandIntake.ts).
 */
import { Context, type Effect } from "effect"
import type { PartitionedIntakeStatus } from "./partitionedIntake.js"

export interface IntakeStatus {
  /** True while the intake loop is pulling from its consumer. */
  readonly consuming: boolean
  /** Epoch ms of the last change of `consuming`. */
  readonly since: number
  /** Why the intake last stopped (it restarts by itself, with capped backoff). */
  readonly lastError?: string
  /** Projects whose log cannot be decoded (KV `berth_quarantine`). */
  readonly quarantined: number
  /** Project actors running in this process. */
  readonly actors: number
  /** Partitioned (src/partitions/): the partitions this process holds; absent when unpartitioned. */
  readonly partitions?: PartitionedIntakeStatus
}

export interface IntakeHealthApi {
  readonly status: Effect.Effect<IntakeStatus>
}

export class IntakeHealth extends Context.Tag("berth/IntakeHealth")<IntakeHealth, IntakeHealthApi>() {}
