/**
 * What the intake consumes: one feed is one durable pull consumer on BERTH_COMMANDS. Unpartitioned,
 * the whole stream (`berth-intake`, as Berth always did). Partitioned (src/partitions/), one consumer
 * per partition (`berth-intake-p<n>` on `berth.pcmd.<n>.*`), consumed only by the orchestrator holding
 * its lease; being durable, it keeps its position and pending acks from one owner to the next.
 *
 * A partition's ack wait is the lease TTL. Commands a killed owner held unacknowledged come back when
 * their ack wait runs out, at most a TTL after its last `working()`, i.e. after its death; its lease
 * lapses a TTL after its last renewal, which came at most TTL/4 before its death. So the next owner,
 * taking over when the lease lapses, gets them at most TTL/4 later, with no consumer to delete or
 * re-create (that would also hand a frozen owner's late acks to a new consumer). A graceful owner
 * nak's what it held before it releases the lease: the next owner gets those at once.
 */
import { Duration } from "effect"
import { subjects } from "../nats/subjects.js"

export const intakeConsumer = "berth-intake"

export interface FeedTarget {
  readonly name: string
  readonly filterSubject?: string
  /** How long a delivered command may stay unacknowledged before the server redelivers it. */
  readonly ackWaitMs: number
  /** How many messages the client pulls ahead. */
  readonly maxMessages: number
  /**
   * How long a pull request lives (the client renews it): short enough that a vanished consumer is
   * noticed in seconds, and that a frozen owner's pending pulls expire about when its lease does.
   */
  readonly pullExpiresMs: number
}

/**
 * The whole stream. The ack wait is short, so the commands a killed orchestrator held are redelivered
 * to another within seconds; a command still being decided is kept with `working()`.
 */
export const wholeStreamFeed: FeedTarget = { name: intakeConsumer, ackWaitMs: 10_000, maxMessages: 256, pullExpiresMs: 10_000 }

/** One partition's commands; a process holds many of them, so each pulls fewer ahead. */
export const partitionFeed = (partition: number, leaseTtl: Duration.Duration): FeedTarget => ({
  name: `${intakeConsumer}-p${partition}`,
  filterSubject: subjects.partitionCommands(partition),
  ackWaitMs: Duration.toMillis(leaseTtl),
  maxMessages: 64,
  pullExpiresMs: Math.min(10_000, Math.max(2_000, Duration.toMillis(leaseTtl)))
})

export interface Feed extends FeedTarget {
  /** Stream sequences delivered by this feed and not settled: a re-created consumer starts at the oldest. */
  readonly unsettled: Set<number>
  highestSeen: number
  health: { consuming: boolean; since: number; lastError?: string }
  /** Set when the feed is handed over: what is still buffered is nak'd for the next owner, then it ends. */
  releasing: boolean
  /** Stops the current pull (the client yields what it buffered, then ends). */
  stopPulling: () => void
}

export const makeFeed = (target: FeedTarget, now: number): Feed => ({
  ...target,
  unsettled: new Set(),
  highestSeen: 0,
  health: { consuming: false, since: now },
  releasing: false,
  stopPulling: () => undefined
})
