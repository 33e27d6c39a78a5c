/**
 * How partitioning is shown to people: the start banner's line and the orchestrator's `partitions`
 * health check (/readyz, `berth status`). Pure.
 */
import { Duration } from "effect"
import type { PartitionedIntakeStatus } from "../actors/partitionedIntake.js"
import type { Check } from "../health/RoleHealth.js"
import type { Partitioning } from "./detect.js"

export const describePartitioning = (partitioning: Partitioning, leaseTtl: Duration.Duration): string =>
  partitioning._tag === "On"
    ? `${partitioning.partitions} partitions over the orchestrators, leases of ${Duration.format(leaseTtl)} (berth.cmd.* mapped to berth.pcmd.<partition>.*)`
    : `off: ${partitioning.reason}; each orchestrator takes any project's commands`

/** Ready while every partition has an owner (as this orchestrator sees it). */
export const partitionsCheck = (partitioning: Partitioning, status: PartitionedIntakeStatus | undefined): Check =>
  partitioning._tag === "Off" || status === undefined
    ? { ok: true, detail: describePartitioning(partitioning, Duration.zero) }
    : {
        ok: status.unowned === 0,
        detail:
          `holds ${status.owned.length} of ${status.partitions} partitions (${status.members} orchestrator(s), leases of ${status.leaseTtlMs} ms)` +
          (status.unowned === 0 ? "" : `; ${status.unowned} partition(s) without an owner (taken over within a lease TTL)`)
      }
