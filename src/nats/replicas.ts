/**
 * How many copies JetStream keeps of each of Berth's streams, KV buckets and its object store
 * (`num_replicas`): BERTH_REPLICAS when given; otherwise 3 when the NATS cluster has at least three
 * servers, else 1 (a single server holds one copy; a stream with more replicas than servers cannot be
 * created).
 *
 * Detection reads the INFO the connected server sends (nats-server 2.9.10 has no JetStream API that
 * counts the cluster's servers for an ordinary user): `cluster` is set only on a server configured
 * for a cluster, and `connect_urls` lists the client URLs of that server and of every server it has
 * a route to (gossiped, kept current). A cluster still forming at connect time is given a moment to
 * announce its servers. A server advertising several addresses (listening on 0.0.0.0) counts once per
 * address, and a cluster with `no_advertise` announces none: set BERTH_REPLICAS there, as in any
 * production setup.
 *
 * Existing streams (created before, e.g. R1 on a single server later joined into a cluster): the
 * owner of a stream (the orchestrator; the API for its token bucket) brings it to the count on start,
 * as nats-server changes a clustered stream's num_replicas in place. A detected count only raises a
 * stream's replicas, never lowers them: a cluster restarted with a server missing must not shrink
 * streams that were R3. BERTH_REPLICAS sets the count both ways.
 */
import type { JetStreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection, type ServerInfo } from "@nats-io/transport-node"
import { Config, Duration, Effect, Option, Schedule } from "effect"
import { buckets, kvStream, objectStream, streams } from "./subjects.js"

export interface Replication {
  /** The num_replicas of every stream and bucket Berth creates. */
  readonly replicas: number
  /** BERTH_REPLICAS, or detected from the server's INFO. */
  readonly source: "BERTH_REPLICAS" | "detected"
  /** The cluster's name, when the server is clustered. */
  readonly cluster: string | undefined
  /** How many servers the connected one announces (itself included). */
  readonly servers: number
}

/** JetStream's largest replica count. */
export const maxReplicas = 5

export const replicasSetting: Config.Config<Option.Option<number>> = Config.option(
  Config.integer("BERTH_REPLICAS").pipe(
    Config.validate({
      message: `BERTH_REPLICAS must be a whole number from 1 to ${maxReplicas}`,
      validation: (n) => n >= 1 && n <= maxReplicas
    })
  )
)

/** What a single server (or a test's) has: one copy, detected. */
export const singleServer: Replication = { replicas: 1, source: "detected", cluster: undefined, servers: 1 }

/** The servers a server's INFO announces: 1 without a cluster, else its distinct connect URLs (at least 1). */
export const serversOf = (info: Pick<ServerInfo, "cluster" | "connect_urls"> | undefined): { readonly cluster: string | undefined; readonly servers: number } => {
  const cluster = info?.cluster === undefined || info.cluster === "" ? undefined : info.cluster
  if (cluster === undefined) return { cluster, servers: 1 }
  return { cluster, servers: Math.max(1, new Set(info?.connect_urls ?? []).size) }
}

/** The replica count for a setting and what the server announces. */
export const chooseReplication = (setting: Option.Option<number>, announced: ReturnType<typeof serversOf>): Replication =>
  Option.match(setting, {
    onSome: (replicas) => ({ replicas, source: "BERTH_REPLICAS", ...announced }),
    onNone: () => ({ replicas: announced.servers >= 3 ? 3 : 1, source: "detected", ...announced })
  })

/**
 * The num_replicas an existing stream should get: the setting's, or, detected, never fewer than it
 * has (see the header).
 */
export const replicasFor = (replication: Replication, existing: number): number =>
  replication.source === "BERTH_REPLICAS" ? replication.replicas : Math.max(existing, replication.replicas)

/** One line for the start banner, /readyz and logs. */
export const describeReplication = (replication: Replication): string => {
  const where =
    replication.cluster === undefined
      ? "single server"
      : `cluster "${replication.cluster}" of ${replication.servers} server${replication.servers === 1 ? "" : "s"}`
  const why = replication.source === "BERTH_REPLICAS" ? "BERTH_REPLICAS" : "detected"
  return `${replication.replicas} replica${replication.replicas === 1 ? "" : "s"} per stream (${why}; ${where})`
}

/** How long a clustered server that announces fewer than three servers is given to learn of the rest. */
const settleFor = Duration.seconds(2)

/**
 * The replication for this connection: BERTH_REPLICAS, or detected from the server's INFO (waiting a
 * moment for a cluster that is still connecting its routes).
 */
export const detectReplication = (nc: NatsConnection, setting: Option.Option<number>): Effect.Effect<Replication> => {
  if (Option.isSome(setting)) return Effect.succeed(chooseReplication(setting, serversOf(nc.info)))
  const now = Effect.sync(() => serversOf(nc.info))
  return now.pipe(
    Effect.filterOrFail((announced) => announced.cluster === undefined || announced.servers >= 3),
    Effect.retry(Schedule.spaced(Duration.millis(100))),
    Effect.timeout(settleFor),
    Effect.orElse(() => now),
    Effect.map((announced) => chooseReplication(setting, announced))
  )
}

/** Detect with a connection of its own (the supervisor, for the banner): undefined when NATS does not answer. */
export const probeReplication = (
  servers: ReadonlyArray<string>,
  auth: Record<string, unknown>,
  setting: Option.Option<number>
): Effect.Effect<Replication | undefined> =>
  Effect.acquireUseRelease(
    Effect.tryPromise(() => connect({ ...auth, servers: [...servers], reconnect: false, timeout: 5_000 })),
    (nc) => detectReplication(nc, setting),
    (nc) => Effect.promise(() => nc.close())
  ).pipe(Effect.orElseSucceed(() => undefined))

/** Every stream the orchestrator owns (creates and keeps up to date), buckets and object store included. */
export const orchestratorStreams: ReadonlyArray<string> = [
  streams.commands,
  streams.events,
  streams.deadLetters,
  ...[buckets.snapshots, buckets.archive, buckets.routes, buckets.inflight, buckets.quarantine, buckets.health, buckets.hostnames, buckets.partitions].map(
    kvStream
  ),
  objectStream(buckets.openApi)
]

/** Until `stream` has a leader again (a few hundred ms after a replica change), at most 10 s. */
const waitForLeader = (jsm: JetStreamManager, stream: string): Effect.Effect<void> =>
  Effect.tryPromise(() => jsm.streams.info(stream)).pipe(
    Effect.filterOrFail((info) => info.cluster?.leader !== undefined && info.cluster.leader !== ""),
    Effect.retry(Schedule.spaced(Duration.millis(100))),
    Effect.timeout(Duration.seconds(10)),
    Effect.ignore
  )

/**
 * Brings the existing ones of `names` to their replica count (replicasFor); missing ones are left to
 * their creator. A stream nats-server will not change (not enough servers up, a single server) is
 * logged with what to do, and left as it is: Berth runs on with the copies it has.
 */
export const alignReplicas = (jsm: JetStreamManager, replication: Replication, names: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.forEach(
    names,
    (name) =>
      Effect.gen(function* () {
        // Missing (its creator makes it with the right count) or unreadable: nothing to align.
        const info = yield* Effect.option(Effect.tryPromise(() => jsm.streams.info(name)))
        if (Option.isNone(info)) return
        const { config } = info.value
        const wanted = replicasFor(replication, config.num_replicas)
        if (config.num_replicas === wanted) return
        yield* Effect.tryPromise(() => jsm.streams.update(name, { ...config, num_replicas: wanted })).pipe(
          Effect.zipRight(Effect.logInfo(`stream ${name}: replicas ${config.num_replicas} -> ${wanted}`)),
          // The stream elects a leader in its new group: until then its API requests time out.
          Effect.zipRight(waitForLeader(jsm, name)),
          Effect.catchAll((error) =>
            Effect.logWarning(
              `stream ${name} keeps ${config.num_replicas} replica(s): nats-server refused ${wanted} (${error.error instanceof Error ? error.error.message : String(error.error)}); ` +
                "start the orchestrator again once every server is up, or set BERTH_REPLICAS to what the cluster can hold"
            )
          )
        )
      }),
    { discard: true }
  )
