/**
 * One object-store put on the acked publisher's fast path, in the object store's own format (any
 * client's `get` reads it): the chunks on `$O.<bucket>.C.<nuid>`, then the meta message on
 * `$O.<bucket>.M.<name>` (a subject rollup) that makes them the object.
 *
 * The client's `put` first reads the name's old meta (to purge the old chunks once replaced) and sends
 * every part as a request of its own: about four round trips on the client's slow path per scraped
 * document. A name seen for the first time needs neither the read nor the purge, so the meta is
 * published create-only (expected subject sequence 0): a new name costs the chunk and the meta. A name
 * that exists already (a scrape run again after a crash) fails that check; its chunks are purged and
 * the client's `put` replaces the object as it always did, purging the old chunks.
 */
import type { JetStreamManager } from "@nats-io/jetstream"
import type { ObjectStore } from "@nats-io/obj"
import { nuid } from "@nats-io/transport-node"
import { Effect } from "effect"
import { type AckedPublisher, PublishRejected, type PublishError } from "./AckedPublisher.js"
import { encodableObjectName, objectChunkSubject, objectDigest, objectMetaSubject } from "./objectNames.js"
import { objectStream } from "./subjects.js"

/** The largest chunk the client writes (it also caps chunks at the server's max_payload, 1 MiB by default). */
const maxChunkBytes = 128 * 1024
/** JetStream's "wrong last sequence" error code: the meta subject already holds a message. */
const wrongLastSequence = 10071

export interface ObjectPut {
  readonly bucket: string
  readonly name: string
  readonly description: string
  readonly data: Uint8Array
}

export const putObject = (
  publisher: AckedPublisher,
  jsm: JetStreamManager,
  store: ObjectStore,
  put: ObjectPut
): Effect.Effect<void, PublishError | Error> => {
  const viaClient = Effect.tryPromise({
    try: () => store.putBlob({ name: put.name, description: put.description }, put.data),
    catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
  }).pipe(Effect.asVoid)
  if (!encodableObjectName(put.name)) return viaClient

  const id = nuid.next()
  const chunkSubject = objectChunkSubject(put.bucket, id)
  const purgeChunks = Effect.tryPromise(() => jsm.streams.purge(objectStream(put.bucket), { filter: chunkSubject })).pipe(Effect.ignore)
  const chunks: Array<Uint8Array> = []
  for (let at = 0; at < put.data.byteLength; at += maxChunkBytes) chunks.push(put.data.subarray(at, at + maxChunkBytes))
  const meta = {
    bucket: put.bucket,
    nuid: id,
    size: put.data.byteLength,
    chunks: chunks.length,
    name: put.name,
    description: put.description,
    options: { max_chunk_size: maxChunkBytes },
    mtime: new Date().toISOString(),
    digest: objectDigest(put.data),
    deleted: false
  }
  const publishMeta = publisher.publish(objectMetaSubject(put.bucket, put.name), new TextEncoder().encode(JSON.stringify(meta)), {
    expectedLastSubjectSequence: 0,
    headers: { "Nats-Rollup": "sub" }
  })

  const rejected = (error: PublishError | Error): error is PublishRejected => error instanceof PublishRejected
  // In order: a reader takes the chunks in stream order.
  return Effect.forEach(chunks, (chunk) => publisher.publish(chunkSubject, chunk), { discard: true }).pipe(
    // A chunk missing: none of them is an object; they go, and the put fails.
    Effect.tapError(() => purgeChunks),
    Effect.zipRight(
      publishMeta.pipe(
        Effect.catchIf(rejected, (error) =>
          // Refused, so the chunks are no object's. A name that exists: the client replaces it. (A meta
          // never acknowledged may have been stored: its chunks stay.)
          Effect.zipRight(purgeChunks, error.errCode === wrongLastSequence ? viaClient : Effect.fail(error))
        )
      )
    ),
    Effect.asVoid
  )
}
