/**
 * Raw NATS JetStream baselines, measured against a scratch stream configured like BERTH_EVENTS
 * (file storage, limits retention, direct get), so Berth's figures have a same-run limit next to them.
 */
import { type JetStreamClient, type JetStreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { createInbox, headers, type NatsConnection } from "@nats-io/transport-node"
import { now } from "./stats.js"

export const rawStream = "BENCH_RAW"
let runs = 0

export const createRawStream = async (jsm: JetStreamManager): Promise<void> => {
  try {
    await jsm.streams.delete(rawStream)
  } catch {
    // absent
  }
  await jsm.streams.add({
    name: rawStream,
    subjects: ["bench.raw.>"],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    allow_direct: true
  })
}

export const deleteRawStream = async (jsm: JetStreamManager): Promise<void> => {
  await jsm.streams.delete(rawStream)
}

export interface RawAppendOptions {
  readonly subjectCount: number
  readonly messages: number
  readonly window: number
  readonly payload: Uint8Array
}

/**
 * The append loop both raw figures share: `messages` publishes round-robin over `subjectCount` fresh
 * subjects, each with the subject's expected last sequence, `window` in flight at a time (Promise.all).
 * `publish` returns the stored sequence. Returns messages per second.
 */
const roundRobinAppends = async (
  opts: RawAppendOptions,
  publish: (subject: string, expected: number) => Promise<number>
): Promise<number> => {
  const run = ++runs // fresh subjects per call: each starts at expected sequence 0
  const subjectOf = (i: number) => `bench.raw.r${run}.p${i}`
  const last = new Array<number>(opts.subjectCount).fill(0)
  const start = now()
  let sent = 0
  let next = 0
  while (sent < opts.messages) {
    const batch = Math.min(opts.window, opts.messages - sent, opts.subjectCount)
    const acks = await Promise.all(
      Array.from({ length: batch }, () => {
        const subject = next
        next = (next + 1) % opts.subjectCount
        return publish(subjectOf(subject), last[subject] ?? 0).then((seq) => ({ subject, seq }))
      })
    )
    for (const { subject, seq } of acks) last[subject] = seq
    sent += batch
  }
  return opts.messages / ((now() - start) / 1000)
}

/**
 * The fastest correct append path we know: core publishes with the expected last subject sequence
 * header and a reply subject on one shared inbox subscription (no per-message request machinery).
 * Written here from the NATS client's primitives, not with Berth's own publisher, so it stays a baseline.
 */
export const rawAppendRate = async (nc: NatsConnection, opts: RawAppendOptions): Promise<number> => {
  const inbox = createInbox()
  const waiting = new Map<number, (seq: number) => void>()
  const decoder = new TextDecoder()
  const subscription = nc.subscribe(`${inbox}.*`, {
    callback: (_error, message) => {
      const token = Number(message.subject.slice(inbox.length + 1))
      const ack = JSON.parse(decoder.decode(message.data)) as { readonly seq?: number; readonly error?: unknown }
      if (ack.seq === undefined) throw new Error(`raw append refused: ${JSON.stringify(ack.error)}`)
      waiting.get(token)?.(ack.seq)
      waiting.delete(token)
    }
  })
  let token = 0
  const rate = await roundRobinAppends(opts, (subject, expected) => {
    const h = headers()
    h.set("Nats-Expected-Last-Subject-Sequence", String(expected))
    const id = ++token
    return new Promise<number>((resolve) => {
      waiting.set(id, resolve)
      nc.publish(subject, opts.payload, { reply: `${inbox}.${id}`, headers: h })
    })
  })
  subscription.unsubscribe()
  return rate
}

/** The client library's own path: `js.publish`, one request each. */
export const rawRequestAppendRate = (js: JetStreamClient, opts: RawAppendOptions): Promise<number> =>
  roundRobinAppends(opts, (subject, expected) =>
    js.publish(subject, opts.payload, { expect: { lastSubjectSequence: expected } }).then((ack) => ack.seq)
  )

/**
 * `count` sequential expected-sequence publishes to one subject on the fast path (core publish, reply
 * on a shared inbox subscription); returns each round trip in ms.
 */
export const rawPublishRoundTrips = async (nc: NatsConnection, count: number, payload: Uint8Array): Promise<Array<number>> => {
  const out: Array<number> = []
  const subject = `bench.raw.rtt${++runs}`
  const inbox = createInbox()
  const decoder = new TextDecoder()
  let resolveAck: (seq: number) => void = () => {}
  const subscription = nc.subscribe(`${inbox}.*`, {
    callback: (_error, message) => resolveAck((JSON.parse(decoder.decode(message.data)) as { readonly seq: number }).seq)
  })
  let last = 0
  for (let i = 0; i < count; i++) {
    const start = now()
    const h = headers()
    h.set("Nats-Expected-Last-Subject-Sequence", String(last))
    last = await new Promise<number>((resolve) => {
      resolveAck = resolve
      nc.publish(subject, payload, { reply: `${inbox}.${i}`, headers: h })
    })
    out.push(now() - start)
  }
  subscription.unsubscribe()
  return out
}
