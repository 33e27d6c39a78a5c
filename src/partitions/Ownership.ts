/**
 * Which projects this orchestrator may decide for. Unpartitioned (a stock nats-server, without Berth's
 * mapping): every project, as Berth always did. Partitioned (detected at start, detect.ts): the
 * projects of the partitions whose lease this process holds (Leases.ts). The actor system asks before
 * starting an actor and the actor before every decision; the intake runs the lease manager and consumes
 * only the partitions it holds.
 */
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { Context, Duration, Effect, Layer, Option } from "effect"
import type { OrchestratorSettings } from "../config.js"
import { openKv } from "../nats/buckets.js"
import { Nats, NatsError } from "../nats/Nats.js"
import { buckets, kvStream } from "../nats/subjects.js"
import { detectPartitioning, type Partitioning } from "./detect.js"
import { makePartitionLeases, type PartitionLeases } from "./Leases.js"
import { partitionOf } from "./partitioning.js"

export interface ProjectOwnershipApi {
  readonly partitioning: Partitioning
  /** Whether this process may decide for `projectId` now. */
  readonly mayDecide: (projectId: string) => boolean
  /** The project's partition; none when unpartitioned. */
  readonly partitionOf: (projectId: string) => Option.Option<number>
  /** The leases (partitioned only). */
  readonly leases: Option.Option<PartitionLeases>
}

export class ProjectOwnership extends Context.Tag("berth/ProjectOwnership")<ProjectOwnership, ProjectOwnershipApi>() {}

export const unpartitioned = (reason: string): ProjectOwnershipApi => ({
  partitioning: { _tag: "Off", reason },
  mayDecide: () => true,
  partitionOf: () => Option.none(),
  leases: Option.none()
})

/** This orchestrator among the others: `<host>-<pid>-<random>` (unique even for two in one process, as tests run them). */
const newInstance = () => `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`

/**
 * The lease bucket; its max_age is the lease TTL. An existing bucket keeps its max_age (a TTL changed
 * under running orchestrators would break their timing): its value is used, and a different setting is
 * reported.
 */
const openLeaseBucket = (settings: Pick<OrchestratorSettings, "leaseTtl">) =>
  Effect.gen(function* () {
    const nats = yield* Nats
    const wanted = Duration.toMillis(settings.leaseTtl)
    const kv = yield* openKv(nats, buckets.partitions, { history: 1, ttl: wanted })
    const info = yield* Effect.tryPromise({
      try: () => nats.jsm.streams.info(kvStream(buckets.partitions)),
      catch: (cause) => new NatsError({ operation: "read the partition lease bucket", cause })
    })
    const ttlMs = info.config.max_age / 1_000_000
    if (ttlMs !== wanted) {
      yield* Effect.logWarning(
        `the lease TTL is the max_age of KV ${buckets.partitions}: ${ttlMs} ms, not BERTH_LEASE_TTL (${wanted} ms); delete the bucket while no orchestrator runs to change it`
      )
    }
    return { kv, ttl: Duration.millis(ttlMs > 0 ? ttlMs : wanted) }
  })

export const ProjectOwnershipLive = (settings: Pick<OrchestratorSettings, "partitions" | "leaseTtl">) =>
  Layer.effect(
    ProjectOwnership,
    Effect.gen(function* () {
      const { nc } = yield* Nats
      const partitioning = yield* detectPartitioning(nc, settings.partitions)
      if (partitioning._tag === "Off") {
        yield* Effect.logInfo(`unpartitioned: ${partitioning.reason}; this orchestrator takes every project's commands`)
        return unpartitioned(partitioning.reason)
      }
      const { kv, ttl } = yield* openLeaseBucket(settings)
      const leases = makePartitionLeases({ kv, instance: newInstance(), partitions: partitioning.partitions, ttl })
      yield* Effect.logInfo(`partitioned: ${partitioning.partitions} partitions, leases of ${Duration.format(ttl)}`)
      const partitionOfProject = (projectId: string) => partitionOf(projectId, partitioning.partitions)
      return ProjectOwnership.of({
        partitioning,
        mayDecide: (projectId) => leases.holds(partitionOfProject(projectId)),
        partitionOf: (projectId) => Option.some(partitionOfProject(projectId)),
        leases: Option.some(leases)
      })
    })
  )
