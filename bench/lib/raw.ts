/**
 * Raw NATS JetStream baselines, measured against a scratch stream configured like BERTH_EVENTS
 * (file storage, limits retention, direct get), so Berth's figures have a same-run limit next to them.
 */
import { type JetStreamClient, type JetStreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream"
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

/**
 * The fastest correct append path: `messages` publishes round-robin over `subjectCount` subjects,
 * each with the expected last subject sequence, `window` in flight at a time (Promise.all).
 * Returns messages per second.
 */
export const rawAppendRate = async (
  js: JetStreamClient,
  opts: { readonly subjectCount: number; readonly messages: number; readonly window: number; readonly payload: Uint8Array }
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
        return js
          .publish(subjectOf(subject), opts.payload, { expect: { lastSubjectSequence: last[subject] ?? 0 } })
          .then((ack) => ({ subject, seq: ack.seq }))
      })
    )
    for (const { subject, seq } of acks) last[subject] = seq
    sent += batch
  }
  return opts.messages / ((now() - start) / 1000)
}

/** `count` sequential expected-sequence publishes to one subject; returns each round trip in ms. */
export const rawPublishRoundTrips = async (js: JetStreamClient, count: number, payload: Uint8Array): Promise<Array<number>> => {
  const out: Array<number> = []
  let last = 0
  const subject = `bench.raw.rtt${++runs}`
  for (let i = 0; i < count; i++) {
    const start = now()
    const ack = await js.publish(subject, payload, { expect: { lastSubjectSequence: last } })
    out.push(now() - start)
    last = ack.seq
  }
  return out
}
