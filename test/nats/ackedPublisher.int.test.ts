/**
 * The fast JetStream publish path on a real nats-server: acknowledgements resolve the right caller,
 * the stream's refusals keep their error code, and a subject no stream stores fails at once.
 */
import { JetStreamApiCodes } from "@nats-io/jetstream"
import { Effect, Either, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Nats } from "../../src/nats/Nats.js"
import { subjects } from "../../src/nats/subjects.js"
import { startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
let runtime: ManagedRuntime.ManagedRuntime<Nats, unknown>

beforeAll(async () => {
  nats = await startTestNats()
  runtime = ManagedRuntime.make(Layer.fresh(Nats.layer(nats.url)))
})
afterAll(async () => {
  await runtime?.dispose()
  await nats?.stop()
})

const bytes = (text: string) => new TextEncoder().encode(text)
const publish = (subject: string, data: string, expected?: number) =>
  runtime.runPromise(
    Effect.flatMap(Nats, ({ publisher }) =>
      publisher.publish(subject, bytes(data), expected === undefined ? {} : { expectedLastSubjectSequence: expected })
    ).pipe(Effect.either)
  )

describe("AckedPublisher", () => {
  it("resolves many concurrent publishes, each with its own stream sequence", async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => publish(subjects.events(`p_fast_${i}`), `{"i":${i}}`)))
    const seqs = results.map((r) => (Either.isRight(r) ? r.right.seq : -1))
    expect(seqs.every((s) => s > 0)).toBe(true)
    expect(new Set(seqs).size).toBe(200)
    const { jsm } = await runtime.runPromise(Nats)
    const stored = await jsm.direct.getMessage("BERTH_EVENTS", { last_by_subj: subjects.events("p_fast_7") })
    expect(stored?.string()).toBe('{"i":7}')
    expect(results[7]).toEqual(Either.right({ stream: "BERTH_EVENTS", seq: stored?.seq, duplicate: false }))
  })

  it("stores with the expected last subject sequence and refuses a stale one with the stream's code", async () => {
    const subject = subjects.events("p_fast_cas")
    const first = await publish(subject, "a", 0)
    expect(Either.isRight(first)).toBe(true)
    const seq = Either.isRight(first) ? first.right.seq : 0
    expect(Either.isRight(await publish(subject, "b", seq))).toBe(true)
    const stale = await publish(subject, "c", seq)
    expect(Either.isLeft(stale) && stale.left._tag === "PublishRejected" && stale.left.errCode).toBe(JetStreamApiCodes.StreamWrongLastSequence)
  })

  it("says when the stream already held a message with the same Nats-Msg-Id (nothing stored), with that message's sequence", async () => {
    const subject = subjects.events("p_fast_dup")
    const send = (data: string) =>
      runtime.runPromise(Effect.flatMap(Nats, ({ publisher }) => publisher.publish(subject, bytes(data), { headers: { "Nats-Msg-Id": "p_fast_dup:0" } })))
    const first = await send("a")
    expect(await send("b")).toEqual({ ...first, duplicate: true })
    const { jsm } = await runtime.runPromise(Nats)
    expect((await jsm.direct.getMessage("BERTH_EVENTS", { last_by_subj: subject }))?.string()).toBe("a")
  })

  it("fails at once, as unacknowledged, on a subject no stream stores", async () => {
    const started = Date.now()
    const result = await publish("nobody.stores.this", "x")
    expect(Either.isLeft(result) && result.left._tag).toBe("PublishUnacknowledged")
    expect(Either.isLeft(result) && result.left.message).toContain("no stream stores this subject")
    expect(Date.now() - started).toBeLessThan(4_000) // well before the 5 s acknowledgement timeout
  })
})
