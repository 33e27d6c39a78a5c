/**
 * Is the server partitioning commands? Asked, not configured: a nats-server with Berth's mapping
 * (partitioning.ts) rewrites `berth.cmd.<x>` to `berth.pcmd.<partition>.<x>`; a stock one does not.
 *
 * The probe publishes a few core messages to `berth.cmd.<random token>` and listens on both forms.
 * Each carries `Nats-Expected-Stream` naming no stream, so JetStream refuses to store it (BERTH_COMMANDS
 * captures both forms): nothing reaches the intake, and no publisher's command is touched. Each probe
 * that comes back rewritten must land in the partition `partitionOf` computes with the configured
 * count; several random tokens make a different count on the server show (a mismatch fails the start:
 * two owners would disagree about which projects a partition holds).
 */
import { randomBytes } from "node:crypto"
import { headers as natsHeaders, type NatsConnection, type Subscription } from "@nats-io/transport-node"
import { Data, Duration, Effect, Option } from "effect"
import { NatsError } from "../nats/Nats.js"
import { subjects } from "../nats/subjects.js"
import { parsePartitionedSubject, partitionOf } from "./partitioning.js"

export type Partitioning =
  | { readonly _tag: "Off"; readonly reason: string }
  | { readonly _tag: "On"; readonly partitions: number }

/** The server maps commands into partitions, but not into BERTH_PARTITIONS of them. */
export class PartitionCountMismatch extends Data.TaggedError("PartitionCountMismatch")<{ readonly configured: number; readonly detail: string }> {
  override get message(): string {
    return `the nats-server's berth.cmd.* mapping does not partition into BERTH_PARTITIONS=${this.configured} partitions (${this.detail}): make the mapping's partition(N,1) and BERTH_PARTITIONS agree`
  }
}

const probes = 16
/** Generous: on a loaded machine a round trip can take a while, and a probe missed means running unpartitioned. */
const probeTimeout = Duration.seconds(5)
/** No stream has this name: JetStream refuses to store a probe (error 10060, expected stream does not match). */
const noStream = "BERTH_PARTITION_PROBE"

interface Heard {
  readonly token: string
  readonly subject: string
}

export const detectPartitioning = (nc: NatsConnection, configured: number): Effect.Effect<Partitioning, NatsError | PartitionCountMismatch> =>
  Effect.gen(function* () {
    const tokens = Array.from({ length: probes }, () => `berth-probe-${randomBytes(6).toString("hex")}`)
    const heard: Array<Heard> = []
    let allHeard: () => void = () => undefined
    const done = new Promise<void>((resolve) => (allHeard = resolve))
    const subscriptions = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          tokens.flatMap((token): Array<Subscription> =>
            [subjects.command(token), subjects.partitionedCommand("*", token)].map((subject) =>
              nc.subscribe(subject, {
                callback: (error, message) => {
                  if (error !== null) return
                  heard.push({ token, subject: message.subject })
                  if (heard.length >= tokens.length) allHeard()
                }
              })
            )
          ),
        catch: (cause) => new NatsError({ operation: "subscribe to the partition probe", cause })
      }),
      (subs) => Effect.sync(() => subs.forEach((sub) => sub.unsubscribe()))
    )
    yield* Effect.tryPromise({
      try: async () => {
        await nc.flush()
        for (const token of tokens) {
          const h = natsHeaders()
          h.set("Nats-Expected-Stream", noStream)
          nc.publish(subjects.command(token), new Uint8Array(0), { headers: h })
        }
        await nc.flush()
      },
      catch: (cause) => new NatsError({ operation: "publish the partition probe", cause })
    })
    yield* Effect.promise(() => done).pipe(Effect.timeout(probeTimeout), Effect.option)
    void subscriptions
    if (heard.length === 0) {
      return { _tag: "Off", reason: "no probe came back (is berth.cmd.* / berth.pcmd.*.* allowed for this NATS user?)" } as const
    }
    const rewritten = heard.flatMap(({ token, subject }) =>
      Option.match(parsePartitionedSubject(subject), { onNone: () => [], onSome: ({ partition }) => [{ token, partition }] })
    )
    if (rewritten.length === 0) return { _tag: "Off", reason: "the server does not map berth.cmd.* into partitions" } as const
    if (rewritten.length !== heard.length) {
      return yield* new PartitionCountMismatch({ configured, detail: "some probes were rewritten and some were not" })
    }
    const wrong = rewritten.filter(({ token, partition }) => partitionOf(token, configured) !== partition)
    if (wrong.length > 0) {
      const maxSeen = Math.max(...rewritten.map(({ partition }) => partition))
      return yield* new PartitionCountMismatch({
        configured,
        detail: `${wrong.length} of ${rewritten.length} probes landed in another partition (highest seen: ${maxSeen})`
      })
    }
    return { _tag: "On", partitions: configured } as const
  }).pipe(Effect.scoped)
