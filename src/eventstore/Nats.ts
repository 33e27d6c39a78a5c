/**
 * The NATS connection as a service: one connection with its JetStream client and manager, connected
 * when the layer is built and drained when its scope closes. `ensureStreams` declares Berth's streams.
 */
import { jetstream, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, jetstreamManager, StorageType, type StreamConfig } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Context, Data, Effect, Layer } from "effect"
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
}

const natsError = (operation: string) => (cause: unknown) => new NatsError({ operation, cause })

/** Creates each stream, or updates its subjects when it already exists. */
export const ensureStreams = (jsm: JetStreamManager): Effect.Effect<void, NatsError> =>
  Effect.forEach(
    [
      { name: streams.commands, subjects: [subjects.commandsAll] },
      { name: streams.events, subjects: [subjects.eventsAll] },
      { name: streams.deadLetters, subjects: [subjects.deadLettersAll] }
    ],
    ({ name, subjects: streamSubjects }) =>
      Effect.tryPromise({
        try: async () => {
          try {
            const info = await jsm.streams.info(name)
            const config: StreamConfig = { ...info.config, subjects: streamSubjects }
            await jsm.streams.update(name, config)
          } catch (e) {
            if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e
            await jsm.streams.add({ name, subjects: streamSubjects, storage: StorageType.File })
          }
        },
        catch: natsError(`ensure stream ${name}`)
      }),
    { discard: true }
  )

export class Nats extends Context.Tag("berth/Nats")<Nats, NatsService>() {
  /** Connects to `url` for the life of the scope (drained on release). */
  static layer(url: string): Layer.Layer<Nats, NatsError> {
    return Layer.scoped(
      Nats,
      Effect.gen(function*() {
        const nc = yield* Effect.acquireRelease(
          Effect.tryPromise({ try: () => connect({ servers: url, name: "berth" }), catch: natsError(`connect ${url}`) }),
          (nc) => Effect.promise(() => nc.drain().catch(() => nc.close())).pipe(Effect.ignore)
        )
        const jsm = yield* Effect.tryPromise({ try: () => jetstreamManager(nc), catch: natsError("jetstream manager") })
        return { nc, js: jetstream(nc), jsm }
      })
    )
  }
}
