/**
 * Fetches OpenAPI documents from the `berth_openapi` object store for the projector, before its
 * transaction opens. A missing bucket or object is `null` (the row is stored without content);
 * any other failure is an error, so the batch is retried rather than projected without its document.
 *
 * A document of one chunk (any up to 128 KiB: nearly all) is read with two direct gets on the shared
 * reply inbox, its meta and its chunk, and checked against the meta's digest. The client's `getBlob`
 * reads the meta and then creates an ordered consumer per object: in a deploy storm, a consumer
 * created (and left for the server to clean up) per deployment. Larger or linked objects still take it.
 */
import type { JetStreamClient } from "@nats-io/jetstream"
import { type ObjectStore, Objm } from "@nats-io/obj"
import { Effect } from "effect"
import type { DirectReader } from "../nats/DirectReader.js"
import { NatsError } from "../nats/Nats.js"
import { encodableObjectName, objectChunkSubject, objectDigest, objectMetaSubject } from "../nats/objectNames.js"
import { buckets, objectStream } from "../nats/subjects.js"

export type FetchSpecs = (objectNames: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, Uint8Array | null>, NatsError>

interface StoredMeta {
  readonly nuid?: unknown
  readonly size?: unknown
  readonly chunks?: unknown
  readonly digest?: unknown
  readonly deleted?: unknown
  readonly options?: { readonly link?: unknown } | null
}

const decoder = new TextDecoder()

/**
 * The object by direct gets: its content, null when absent or deleted, or undefined when it is not one
 * plain chunk (then the client reads it).
 */
const readDirect = async (reader: DirectReader, bucket: string, name: string): Promise<Uint8Array | null | undefined> => {
  if (!encodableObjectName(name)) return undefined
  const stream = objectStream(bucket)
  const metaMessage = await reader.lastBySubject(stream, objectMetaSubject(bucket, name))
  if (metaMessage === null) return null
  const meta = JSON.parse(decoder.decode(metaMessage.data)) as StoredMeta
  if (meta.deleted === true) return null
  if (meta.options?.link !== undefined && meta.options.link !== null) return undefined
  if (meta.size === 0) return new Uint8Array()
  if (meta.chunks !== 1 || typeof meta.nuid !== "string" || typeof meta.digest !== "string") return undefined
  const chunk = await reader.lastBySubject(stream, objectChunkSubject(bucket, meta.nuid))
  if (chunk === null) throw new Error(`object ${name}: its chunk is missing`)
  if (objectDigest(chunk.data) !== meta.digest) throw new Error(`object ${name}: received a corrupt object, digests do not match`)
  return chunk.data
}

export const makeSpecFetcher = (js: JetStreamClient, reader?: DirectReader, bucket: string = buckets.openApi): FetchSpecs => {
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
  const fetchOne = async (os: ObjectStore, name: string): Promise<Uint8Array | null> => {
    const direct = reader === undefined ? undefined : await readDirect(reader, bucket, name)
    return direct !== undefined ? direct : os.getBlob(name)
  }
  return (objectNames) =>
    objectNames.length === 0
      ? Effect.succeed(new Map())
      : Effect.tryPromise({
          try: async () => {
            const os = await open()
            const entries = await Promise.all(objectNames.map(async (name) => [name, os === null ? null : await fetchOne(os, name)] as const))
            return new Map(entries)
          },
          catch: (cause) => new NatsError({ operation: `fetch OpenAPI objects from ${bucket}`, cause })
        }).pipe(Effect.withSpan("projections.fetchSpecs", { captureStackTrace: false, attributes: { count: objectNames.length } }))
}
