/**
 * One object-store put on the acked publisher's fast path, in the object store's own format (any
 * client's `get` reads it): the chunks on `$O.<bucket>.C.<nuid>` and the meta message on
 * `$O.<bucket>.M.<name>` (a subject rollup) that makes them the object.
 *
 * The client's `put` first reads the name's old meta (to purge the old chunks once replaced) and sends
 * every part as a request of its own, one after another: about four round trips on the client's slow
 * path per scraped document. A name seen for the first time needs neither the read nor the purge, so
 * the meta is published create-only (expected subject sequence 0), beside the chunk: a new name costs
 * one round trip. A name that exists already (a scrape run again after a crash, or after a put that
 * failed half-way) fails that check; its chunks are purged and the client's `put` replaces the object
 * as it always did, purging the old chunks.
 */
import type { JetStreamManager } from "@nats-io/jetstream"
import type { ObjectStore } from "@nats-io/obj"
import { nuid } from "@nats-io/transport-node"
import { Effect, Either } from "effect"
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

  // The chunks in order (a reader takes them in stream order); the meta beside them, not after: until
  // both are acknowledged no event names the object, so nobody reads it half-written.
  const publishChunks = Effect.forEach(chunks, (chunk) => publisher.publish(chunkSubject, chunk), { discard: true })
  return Effect.all([Effect.either(publishChunks), Effect.either(publishMeta)], { concurrency: 2 }).pipe(
    Effect.flatMap(([chunksOut, metaOut]) => {
      if (Either.isRight(chunksOut) && Either.isRight(metaOut)) return Effect.void
      // Refused or missing: the chunks are no object's, and go. A meta stored over missing chunks is
      // replaced by the next put of the name (the client's, below), which is all a retry does.
      const failure = Either.isLeft(chunksOut) ? chunksOut.left : Either.isLeft(metaOut) ? metaOut.left : undefined
      const nameExists = Either.isRight(chunksOut) && Either.isLeft(metaOut) && metaOut.left instanceof PublishRejected && metaOut.left.errCode === wrongLastSequence
      // A meta never acknowledged may have been stored: its chunks stay.
      const keepChunks = Either.isRight(chunksOut) && Either.isLeft(metaOut) && !(metaOut.left instanceof PublishRejected)
      const cleanUp = keepChunks ? Effect.void : purgeChunks
      return Effect.zipRight(cleanUp, nameExists ? viaClient : failure === undefined ? Effect.void : Effect.fail(failure))
    })
  )
}
