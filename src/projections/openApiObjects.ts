/**
 * Fetches OpenAPI documents from the `berth_openapi` object store for the projector, before its
 * transaction opens. A missing bucket or object is `null` (the row is stored without content);
 * any other failure is an error, so the batch is retried rather than projected without its document.
 */
import type { JetStreamClient } from "@nats-io/jetstream"
import { type ObjectStore, Objm } from "@nats-io/obj"
import { Effect } from "effect"
import { NatsError } from "../nats/Nats.js"
import { buckets } from "../nats/subjects.js"

export type FetchSpecs = (objectNames: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, Uint8Array | null>, NatsError>

export const makeSpecFetcher = (js: JetStreamClient, bucket: string = buckets.openApi): FetchSpecs => {
  let store: ObjectStore | undefined
  const open = async (): Promise<ObjectStore | null> => {
    if (store !== undefined) return store
    try {
      store = await new Objm(js).open(bucket)
      return store
    } catch (e) {
      if (e instanceof Error && /not found/i.test(e.message)) return null
      throw e
    }
  }
  return (objectNames) =>
    objectNames.length === 0
      ? Effect.succeed(new Map())
      : Effect.tryPromise({
          try: async () => {
            const os = await open()
            const entries = await Promise.all(
              objectNames.map(async (name) => [name, os === null ? null : await os.getBlob(name)] as const)
            )
            return new Map(entries)
          },
          catch: (cause) => new NatsError({ operation: `fetch OpenAPI objects from ${bucket}`, cause })
        }).pipe(Effect.withSpan("projections.fetchSpecs", { attributes: { count: objectNames.length } }))
}
