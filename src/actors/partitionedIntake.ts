/**
 * The partitioned intake: the lease manager (src/partitions/Leases.ts) decides which partitions this
 * process holds; this module turns that into work. Taking a partition starts its feed and wakes its
 * projects with deployments in flight at once (no waiting for the 30 s resume sweep). Releasing one
 * (rebalance, shutdown) stops its feed — what the client had buffered is nak'd for the next owner —
 * then lets its actors empty their mailboxes for a moment and stops them, steps included; only then
 * is the lease deleted. Losing one does the same without the moment.
 */
import { Duration, Effect, Fiber, Option } from "effect"
import type { OrchestratorSettings } from "../config.js"
import type { PartitionLeases } from "../partitions/Leases.js"
import type { ProjectOwnershipApi } from "../partitions/Ownership.js"
import type { ActorSystemApi } from "./ActorSystem.js"
import type { Feed } from "./intakeFeeds.js"

interface Running {
  readonly feed: Feed
  readonly fiber: Fiber.RuntimeFiber<void, unknown>
}

/** How long a feed being handed over may take to give back what it buffered. */
const feedStopTimeout = Duration.seconds(1)

export interface PartitionedIntakeStatus {
  readonly partitions: number
  readonly owned: ReadonlyArray<number>
  readonly members: number
  readonly unowned: number
  readonly leaseTtlMs: number
}

export const runPartitionedIntake = (options: {
  readonly leases: PartitionLeases
  readonly ownership: ProjectOwnershipApi
  readonly system: ActorSystemApi
  readonly settings: OrchestratorSettings
  readonly startFeed: (partition: number) => Effect.Effect<Running>
  readonly forget: (feed: Feed) => Effect.Effect<void>
}) =>
  Effect.gen(function* () {
    const { leases, ownership, system } = options
    const running = new Map<number, Running>()
    const inPartitions = (partitions: ReadonlyArray<number>) => {
      const set = new Set(partitions)
      return (projectId: string) => Option.exists(ownership.partitionOf(projectId), (p) => set.has(p))
    }

    const stopFeeds = (partitions: ReadonlyArray<number>) =>
      Effect.forEach(
        partitions,
        (partition) =>
          Effect.gen(function* () {
            const feed = running.get(partition)
            if (feed === undefined) return
            running.delete(partition)
            feed.feed.releasing = true
            feed.feed.stopPulling()
            yield* Fiber.join(feed.fiber).pipe(Effect.timeout(feedStopTimeout), Effect.ignore)
            yield* Fiber.interrupt(feed.fiber)
            yield* options.forget(feed.feed)
          }),
        { concurrency: "unbounded", discard: true }
      )

    const stop = (partitions: ReadonlyArray<number>, drain: Duration.Duration) =>
      Effect.gen(function* () {
        yield* stopFeeds(partitions)
        const stopped = yield* options.system.stopActors(inPartitions(partitions), drain)
        if (stopped > 0) yield* Effect.logInfo(`stopped ${stopped} project actor(s) of ${partitions.length} partition(s)`)
      })

    yield* leases.run({
      acquired: (partitions) =>
        Effect.gen(function* () {
          for (const partition of partitions) {
            if (!running.has(partition)) running.set(partition, yield* options.startFeed(partition))
          }
          // The previous owner's in-flight deployments go on now, not at the next resume sweep.
          yield* system.resumeInFlightOf(inPartitions(partitions)).pipe(
            Effect.catchAll((error) => Effect.logWarning("could not resume the in-flight projects of partitions taken over; the resume sweep will", error.message))
          )
        }),
      releasing: (partitions) => stop(partitions, Duration.millis(Duration.toMillis(options.settings.leaseTtl) / 8)),
      lost: (partitions) => stop(partitions, Duration.zero)
    })

    return {
      status: Effect.map(
        leases.status,
        (status): PartitionedIntakeStatus => ({
          partitions: status.partitions,
          owned: status.owned,
          members: status.members.length,
          unowned: status.unowned,
          leaseTtlMs: status.ttlMs
        })
      )
    }
  })
