/**
 * Opening a KV bucket the way the connection's role may: a connection that ensures (the orchestrator,
 * and tests) creates the bucket when it is missing; one that binds (the other roles, whose NATS users
 * may not create streams) waits until the bucket exists, checking every second, and never creates it.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"
import { type KV, type KvOptions, Kvm } from "@nats-io/kv"
import { Data, Duration, Effect, Fiber, Schedule, type Scope } from "effect"
import { NatsError, type NatsService } from "./Nats.js"
import { kvStream } from "./subjects.js"

class BucketMissing extends Data.TaggedError("BucketMissing")<{ readonly bucket: string }> {}

const waitEvery = Duration.seconds(1)

export const openKv = (
  nats: Pick<NatsService, "nc" | "jsm" | "streams"> & Partial<Pick<NatsService, "replication">>,
  bucket: string,
  options: Partial<KvOptions> = {}
): Effect.Effect<KV, NatsError> => {
  const open = Effect.tryPromise({
    // With the bucket's stream present, Kvm.create only reads its info (no create request).
    try: () => new Kvm(nats.nc).create(bucket, { ...options, replicas: nats.replication?.replicas ?? 1 }),
    catch: (cause) => new NatsError({ operation: `open KV ${bucket}`, cause })
  })
  if (nats.streams === "ensure") return open
  const exists = Effect.tryPromise({
    try: () => nats.jsm.streams.info(kvStream(bucket)),
    catch: (cause) =>
      cause instanceof JetStreamApiError && cause.code === JetStreamApiCodes.StreamNotFound
        ? new BucketMissing({ bucket })
        : new NatsError({ operation: `find KV ${bucket}`, cause })
  })
  let told = false
  const waitForIt = exists.pipe(
    Effect.tapErrorTag("BucketMissing", () =>
      told ? Effect.void : Effect.logInfo(`waiting for KV ${bucket} (the orchestrator creates it)`).pipe(Effect.tap(() => void (told = true)))
    ),
    Effect.retry({ schedule: Schedule.spaced(waitEvery), while: (error) => error._tag === "BucketMissing" }),
    Effect.catchTag("BucketMissing", (error) => Effect.die(error))
  )
  return Effect.zipRight(waitForIt, open)
}

/**
 * Starts `open` in the background of the scope and returns the wait for its result, so a role whose
 * bucket does not exist yet still starts (and answers without it until it does). Failures (NATS away)
 * are retried until the scope closes.
 */
export const openInBackground = <A>(open: Effect.Effect<A, NatsError>): Effect.Effect<Effect.Effect<A>, never, Scope.Scope> =>
  Effect.map(
    Effect.forkScoped(
      open.pipe(
        Effect.tapError((error) => Effect.logWarning(`${error.message}; trying again`)),
        Effect.retry(Schedule.spaced(Duration.seconds(2))),
        Effect.orDie // never: retried for as long as the scope lasts
      )
    ),
    (fiber) => Fiber.join(fiber)
  )
