/**
 * One KV put, as the KV client makes it but on the acked publisher's fast path: a put is a publish on
 * `$KV.<bucket>.<key>` (stored in stream `KV_<bucket>`), a delete is an empty publish with a
 * `KV-Operation: DEL` header, and a `revision` makes the put a compare-and-set (0 = create only).
 */
import { Effect } from "effect"
import type { AckedPublisher, PublishError } from "./AckedPublisher.js"

/** The subject of a KV key (the last message on it is the key's entry). */
export const kvKeySubject = (bucket: string, key: string): string => `$KV.${bucket}.${key}`

const deleteMarker = { headers: { "KV-Operation": "DEL" } }
const empty = new Uint8Array(0)

/** Writes the key; with `revision`, only if the key's entry is still at that revision. Returns the new revision. */
export const kvPut = (
  publisher: AckedPublisher,
  bucket: string,
  key: string,
  data: Uint8Array,
  revision?: number
): Effect.Effect<number, PublishError> =>
  publisher
    .publish(kvKeySubject(bucket, key), data, revision === undefined ? {} : { expectedLastSubjectSequence: revision })
    .pipe(Effect.map((ack) => ack.seq))

/** Deletes the key (a delete marker, as the KV client writes it). */
export const kvDelete = (publisher: AckedPublisher, bucket: string, key: string): Effect.Effect<number, PublishError> =>
  publisher.publish(kvKeySubject(bucket, key), empty, deleteMarker).pipe(Effect.map((ack) => ack.seq))
