/**
 * The object store written on the fast path and read by direct gets, on a real nats-server: what
 * objectPut writes is an object any client reads (info and content, digest checked), a name written
 * twice keeps the second document without leaving the first one's chunks, and the projector's fetch
 * reads one-chunk, many-chunk, absent and client-written objects alike.
 */
import { Objm, type ObjectStore } from "@nats-io/obj"
import { Effect, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeDirectReader } from "../../src/nats/DirectReader.js"
import { Nats } from "../../src/nats/Nats.js"
import { putObject } from "../../src/nats/objectPut.js"
import { objectStream } from "../../src/nats/subjects.js"
import { makeSpecFetcher } from "../../src/projections/openApiObjects.js"
import { startTestNats, type TestNats } from "../support/servers.js"

const bucket = "berth_objtest"
let nats: TestNats
let runtime: ManagedRuntime.ManagedRuntime<Nats, unknown>
let store: ObjectStore

beforeAll(async () => {
  nats = await startTestNats()
  runtime = ManagedRuntime.make(Layer.fresh(Nats.layer(nats.url)))
  const { nc } = await runtime.runPromise(Nats)
  store = await new Objm(nc).create(bucket)
})
afterAll(async () => {
  await runtime?.dispose()
  await nats?.stop()
})

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Uint8Array | null | undefined) => (data === null || data === undefined ? data : new TextDecoder().decode(data))

const put = (name: string, data: Uint8Array) =>
  runtime.runPromise(Effect.flatMap(Nats, ({ publisher, jsm }) => putObject(publisher, jsm, store, { bucket, name, description: "a document", data })))

const fetchAll = (names: ReadonlyArray<string>) =>
  runtime.runPromise(Effect.flatMap(Nats, ({ js, inbox }) => makeSpecFetcher(js, makeDirectReader(inbox), bucket)(names)))

/** Messages stored on the chunk subjects of the bucket: old chunks left behind would show here. */
const chunkMessages = async () => {
  const { jsm } = await runtime.runPromise(Nats)
  const info = await jsm.streams.info(objectStream(bucket), { subjects_filter: `$O.${bucket}.C.>` })
  return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0)
}

describe("the object store on the fast path", () => {
  it("writes an object the client reads back, with its size, description and a digest that checks", async () => {
    await put("proj_a/dep_1", bytes("openapi: 3.0.0\n"))
    expect(text(await store.getBlob("proj_a/dep_1"))).toBe("openapi: 3.0.0\n")
    const info = await store.info("proj_a/dep_1")
    expect(info).toMatchObject({ name: "proj_a/dep_1", description: "a document", size: 15, chunks: 1, deleted: false })
  })

  it("replaces a name written before, and the old document's chunks go", async () => {
    await put("proj_a/dep_2", bytes("first"))
    const before = await chunkMessages()
    await put("proj_a/dep_2", bytes("second"))
    expect(text(await store.getBlob("proj_a/dep_2"))).toBe("second")
    expect(await chunkMessages()).toBe(before)
  })

  it("writes a document larger than one chunk in order", async () => {
    const large = bytes("x".repeat(200 * 1024) + "end")
    await put("proj_a/dep_3", large)
    expect((await store.info("proj_a/dep_3"))?.chunks).toBe(2)
    expect(text(await store.getBlob("proj_a/dep_3"))).toBe(text(large))
  })

  it("is read by the projector's fetch: one chunk, many chunks, written by the client, absent or deleted", async () => {
    await store.putBlob({ name: "proj_b/dep_1" }, bytes("by the client"))
    await put("proj_b/dep_2", bytes("to be deleted"))
    await store.delete("proj_b/dep_2")
    await put("proj_b/dep_3", new Uint8Array())
    const fetched = await fetchAll(["proj_a/dep_1", "proj_a/dep_3", "proj_b/dep_1", "proj_b/dep_2", "proj_b/dep_3", "proj_b/none"])
    expect(text(fetched.get("proj_a/dep_1"))).toBe("openapi: 3.0.0\n")
    expect(fetched.get("proj_a/dep_3")?.byteLength).toBe(200 * 1024 + 3)
    expect(text(fetched.get("proj_b/dep_1"))).toBe("by the client")
    expect(fetched.get("proj_b/dep_2")).toBeNull()
    expect(text(fetched.get("proj_b/dep_3"))).toBe("")
    expect(fetched.get("proj_b/none")).toBeNull()
  })

  it("fails a put whose chunk the stream refuses, and the next put of the name stores the document whole", async () => {
    const { jsm } = await runtime.runPromise(Nats)
    const stream = objectStream(bucket)
    const config = (await jsm.streams.info(stream)).config
    // Chunks of 2,000 bytes refused, the meta (a few hundred bytes) still stored.
    await jsm.streams.update(stream, { ...config, max_msg_size: 1_000 })
    const refused = await runtime.runPromise(
      Effect.flatMap(Nats, ({ publisher, jsm: manager }) =>
        putObject(publisher, manager, store, { bucket, name: "proj_d/dep_1", description: "a document", data: bytes("y".repeat(2_000)) })
      ).pipe(Effect.either)
    )
    expect(refused._tag).toBe("Left")
    // Its meta went through beside the refused chunk: a half-written object no event names.
    expect(await store.info("proj_d/dep_1")).not.toBeNull()
    await jsm.streams.update(stream, { ...config, max_msg_size: -1 })
    await put("proj_d/dep_1", bytes("y".repeat(2_000)))
    expect(text(await store.getBlob("proj_d/dep_1"))).toBe("y".repeat(2_000))
    expect(text((await fetchAll(["proj_d/dep_1"])).get("proj_d/dep_1"))).toBe("y".repeat(2_000))
  })

  it("refuses a document whose chunk does not match its digest", async () => {
    await put("proj_c/dep_1", bytes("genuine"))
    const info = await store.info("proj_c/dep_1")
    const { js } = await runtime.runPromise(Nats)
    // The chunk replaced behind the meta's back (as a damaged store would hold it).
    await js.publish(`$O.${bucket}.C.${info?.nuid ?? ""}`, bytes("forged!"))
    const result = await runtime.runPromise(
      Effect.flatMap(Nats, ({ js: client, inbox }) => makeSpecFetcher(client, makeDirectReader(inbox), bucket)(["proj_c/dep_1"])).pipe(Effect.either)
    )
    expect(result._tag === "Left" && String(result.left.cause)).toContain("digests do not match")
  })
})
