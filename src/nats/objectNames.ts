/**
 * How the JetStream object store names things, for the fast-path put (objectPut.ts) and the
 * projector's direct reads: meta and chunk subjects, and the digest its meta carries. Any client's
 * object store reads what these name.
 */
import { createHash } from "node:crypto"

/** Base64 with URL-safe letters and padding kept: the object store's spelling of names and digests. */
const base64UrlPadded = (data: Uint8Array): string =>
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64").replace(/\+/g, "-").replace(/\//g, "_")

/** A name the clients can encode (they use btoa: Latin-1 only). */
export const encodableObjectName = (name: string): boolean => name !== "" && [...name].every((c) => c.charCodeAt(0) <= 0xff)

/** The subject of an object's meta message (the last one is the object's current info). */
export const objectMetaSubject = (bucket: string, name: string): string =>
  `$O.${bucket}.M.${base64UrlPadded(Buffer.from(name, "latin1"))}`

/** The subject an object's chunks are stored on, by the nuid its meta names. */
export const objectChunkSubject = (bucket: string, nuid: string): string => `$O.${bucket}.C.${nuid}`

/** The meta's `digest` of the content. */
export const objectDigest = (data: Uint8Array): string => `SHA-256=${base64UrlPadded(createHash("sha256").update(data).digest())}`
