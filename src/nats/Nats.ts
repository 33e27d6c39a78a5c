/**
 * The NATS connection as a service: one connection with its JetStream client and manager, connected
 * when the layer is built and drained when its scope closes. The orchestrator "ensures" the streams
 * (creates them, brings their settings up to date); the other roles "bind": their NATS users may not
 * create streams or buckets (src/nats/permissions.ts), so they use what the orchestrator made.
 */
import {
  DiscardPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig
} from "@nats-io/jetstream"
import { connect, type NatsConnection, TimeoutError } from "@nats-io/transport-node"
import { Context, Data, Duration, Effect, Layer, Option, Schedule } from "effect"
import { type AckedPublisher, makeAckedPublisher } from "./AckedPublisher.js"
import { limits } from "../domain/limits.js"
import { anonymous, connectionAuth, type NatsClientAuth } from "./natsAuth.js"
import { alignReplicas, describeReplication, detectReplication, orchestratorStreams, type Replication, replicasSetting, singleServer } from "./replicas.js"
import { makeReplyInbox, type ReplyInbox } from "./ReplyInbox.js"
import { natsServers } from "./servers.js"
import { streamRetention, type StreamRetention } from "./retention.js"
import { streams, subjects } from "./subjects.js"

export class NatsError extends Data.TaggedError("NatsError")<{ readonly operation: string; readonly cause: unknown }> {
  override get message(): string {
    return `${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export interface NatsService {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** One reply subscription for every fast-path request (publishes, direct gets). */
  readonly inbox: ReplyInbox
  /** The fast path for hot-path JetStream publishes (event appends, KV writes). */
  readonly publisher: AckedPublisher
  /** Whether this connection creates streams and buckets ("ensure") or waits for them ("bind"). */
  readonly streams: StreamSetup
  /** How many replicas the streams and buckets this connection creates get (src/nats/replicas.ts). */
  readonly replication: Replication
}

export type StreamSetup = "ensure" | "bind"

export interface NatsLayerOptions {
  /**
   * A server that is not up yet is waited for (retried until it answers) instead of failing the
   * layer; role processes use it so a NATS outage does not make them crash-loop.
   */
  readonly waitForServer?: boolean
  /** "ensure" (the default): create or update the streams; "bind": use them as they are. */
  readonly streams?: StreamSetup
  /** Credentials and inbox prefix (src/nats/natsAuth.ts); none by default. */
  readonly auth?: NatsClientAuth
  /** BERTH_REPLICAS; read from the environment when absent. */
  readonly replicas?: Option.Option<number>
}

/** How long a fast-path request waits for its reply (the client library's default too). */
const replyTimeoutMs = 5_000

const natsError = (operation: string) => (cause: unknown) => new NatsError({ operation, cause })

const nanosOf = (duration: Duration.Duration): number => Duration.toMillis(duration) * 1_000_000

/** The largest command message BERTH_COMMANDS stores: any command within the limits, with its headers. */
export const commandsMaxMsgSize = limits.commandBytes + limits.commandHeaderBytes

/**
 * The streams' settings. Commands: at most a command within limits.ts plus its headers (a larger
 * publish is refused, and the publisher sees the error), kept for max_age. Dead letters: a whole
 * command plus the intake's headers, bounded by age and bytes (oldest dropped first). Events: the
 * system of record, never expiring (set explicitly, so a start undoes any limit added by hand).
 */
export const streamConfigs = (retention: StreamRetention): ReadonlyArray<Partial<StreamConfig> & { readonly name: string }> => [
  {
    name: streams.commands,
    // berth.pcmd.>: where a server with the partition mapping (src/partitions/) rewrites berth.cmd.<projectId>.
    subjects: [subjects.commandsAll, subjects.partitionedCommandsAll],
    max_msg_size: commandsMaxMsgSize,
    max_age: nanosOf(retention.commandsMaxAge)
  },
  // Direct get lets a cold actor find its head in one round trip.
  { name: streams.events, subjects: [subjects.eventsAll], allow_direct: true, max_age: 0, max_bytes: -1, max_msgs: -1 },
  {
    name: streams.deadLetters,
    subjects: [subjects.deadLettersAll],
    max_msg_size: commandsMaxMsgSize + limits.deadLetterHeaderBytes,
    max_age: nanosOf(retention.deadLettersMaxAge),
    max_bytes: retention.deadLettersMaxBytes,
    discard: DiscardPolicy.Old
  }
]

/**
 * Creates each stream (with `replication`'s replicas), or brings an existing one's settings up to date
 * (retention from the BERTH_COMMANDS_MAX_AGE / BERTH_DLQ_* settings, see retention.ts) keeping its
 * replica count: alignReplicas changes that, and only where the cluster allows. Safe on every start.
 */
export const ensureStreams = (jsm: JetStreamManager, replication: Replication = singleServer): Effect.Effect<void, NatsError> =>
  Effect.flatMap(Effect.mapError(streamRetention, natsError("read stream retention settings")), (retention) =>
    ensureStreamsWith(jsm, retention, replication)
  )

export const ensureStreamsWith = (
  jsm: JetStreamManager,
  retention: StreamRetention,
  replication: Replication = singleServer
): Effect.Effect<void, NatsError> =>
  Effect.forEach(
    streamConfigs(retention),
    (wanted) =>
      Effect.tryPromise({
        try: async () => {
          try {
            const info = await jsm.streams.info(wanted.name)
            await jsm.streams.update(wanted.name, { ...info.config, ...wanted })
          } catch (e) {
            if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e
            await jsm.streams.add({
              ...wanted,
              storage: StorageType.File,
              retention: RetentionPolicy.Limits,
              num_replicas: replication.replicas
            })
          }
        },
        catch: natsError(`ensure stream ${wanted.name}`)
      }).pipe(Effect.retry({ schedule: Schedule.spaced(Duration.millis(250)), times: 4, while: (error) => raceLost(error.cause) })),
    { discard: true }
  )

/**
 * On a cluster, two orchestrators starting together race to create a stream: the loser's request may
 * go unanswered (timeout) or be refused as a name in use. Looked at again, the stream is there.
 */
const raceLost = (cause: unknown): boolean => cause instanceof TimeoutError || (cause instanceof JetStreamApiError && cause.code === streamNameInUse)

/** JetStream's "stream name already in use with a different configuration" (no constant in the client). */
const streamNameInUse = 10058

export class Nats extends Context.Tag("berth/Nats")<Nats, NatsService>() {
  /** Connects to `url` for the life of the scope (drained on release) and ensures or binds the streams. */
  static layer(url: string, options: NatsLayerOptions = {}): Layer.Layer<Nats, NatsError> {
    const setup = options.streams ?? "ensure"
    return Layer.scoped(
      Nats,
      Effect.gen(function* () {
        const auth = yield* Effect.mapError(connectionAuth(options.auth ?? anonymous), natsError("NATS credentials"))
        const nc = yield* Effect.acquireRelease(
          Effect.tryPromise({
            // noAsyncTraces: the client otherwise builds two Error objects (with stack traces) per
            // request just in case one fails; profiling a deploy storm put that at ~16% of CPU.
            try: () =>
              connect({
                ...auth,
                servers: natsServers(url),
                name: "berth",
                maxReconnectAttempts: -1,
                noAsyncTraces: true,
                waitOnFirstConnect: options.waitForServer === true
              }),
            catch: natsError(`connect to NATS at ${url}`)
          }),
          (connection) =>
            Effect.promise(() => connection.drain()).pipe(
              Effect.timeout(Duration.seconds(2)),
              Effect.tap(() => Effect.logDebug("nats drained")),
              Effect.catchAll(() => Effect.promise(() => connection.close())),
              Effect.ignore
            )
        )
        const jsm = yield* Effect.tryPromise({
          try: () => jetstreamManager(nc),
          catch: natsError("JetStream is not enabled on this server")
        })
        const setting = options.replicas ?? (yield* Effect.orDie(replicasSetting))
        const replication = yield* detectReplication(nc, setting)
        if (setup === "ensure") {
          yield* Effect.logInfo(`NATS: ${describeReplication(replication)}`)
          yield* ensureStreams(jsm, replication)
          // A single server with nothing asked keeps every stream as it is: nothing to look at.
          if (replication.replicas > 1 || Option.isSome(setting)) yield* alignReplicas(jsm, replication, orchestratorStreams)
        }
        const inbox = yield* Effect.acquireRelease(
          Effect.sync(() => makeReplyInbox(nc, { timeoutMs: replyTimeoutMs, inboxPrefix: options.auth?.inboxPrefix })),
          (opened) => Effect.sync(() => opened.close())
        )
        return { nc, js: jetstream(nc), jsm, inbox, publisher: makeAckedPublisher(inbox), streams: setup, replication }
      })
    )
  }
}
