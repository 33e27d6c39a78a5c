/**
 * The streams' limits and retention on a real nats-server: what `nats stream info` shows after a
 * start, settings applied to streams that already exist, BERTH_EVENTS never expiring, and a command
 * message over BERTH_COMMANDS' max_msg_size refused to its publisher.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream"
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node"
import { ConfigProvider, Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { limits } from "../../src/domain/limits.js"
import { commandsMaxMsgSize, ensureStreams } from "../../src/nats/Nats.js"
import { streams, subjects } from "../../src/nats/subjects.js"
import { startTestNats, type TestNats } from "../support/servers.js"

const day = 24 * 60 * 60 * 1_000_000_000
const GiB = 1024 * 1024 * 1024

let server: TestNats
let nc: NatsConnection
let jsm: JetStreamManager

beforeAll(async () => {
  server = await startTestNats()
  nc = await connect({ servers: server.url })
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  await nc?.close()
  await server?.stop()
})

const withSettings = (settings: Record<string, string>) => <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.withConfigProvider(effect, ConfigProvider.fromMap(new Map(Object.entries(settings))))

const configOf = async (name: string) => (await jsm.streams.info(name)).config

describe("stream settings", () => {
  it("a fresh start creates the streams with their limits and retention (defaults)", async () => {
    await Effect.runPromise(ensureStreams(jsm).pipe(withSettings({})))
    expect(await configOf(streams.commands)).toMatchObject({
      max_msg_size: limits.commandBytes + limits.commandHeaderBytes,
      max_age: 7 * day
    })
    const dlq = await configOf(streams.deadLetters)
    expect(dlq).toMatchObject({ max_age: 30 * day, max_bytes: GiB, discard: "old" })
    expect(dlq.max_msg_size).toBeGreaterThanOrEqual(commandsMaxMsgSize)
    expect(await configOf(streams.events)).toMatchObject({ max_age: 0, max_bytes: -1, max_msgs: -1 })
  })

  it("a start updates streams that already exist (an older Berth's, or one changed by hand) and applies the settings", async () => {
    // As an older Berth left them: no limits on commands and dead letters, and someone gave the
    // event log an age limit by hand.
    await jsm.streams.update(streams.commands, { ...(await configOf(streams.commands)), max_msg_size: -1, max_age: 0 })
    await jsm.streams.update(streams.deadLetters, { ...(await configOf(streams.deadLetters)), max_msg_size: -1, max_age: 0, max_bytes: -1 })
    await jsm.streams.update(streams.events, { ...(await configOf(streams.events)), max_age: day })
    await Effect.runPromise(
      ensureStreams(jsm).pipe(
        withSettings({ BERTH_COMMANDS_MAX_AGE: "1 hour", BERTH_DLQ_MAX_AGE: "2 days", BERTH_DLQ_MAX_BYTES: "1048576" })
      )
    )
    expect(await configOf(streams.commands)).toMatchObject({ max_msg_size: commandsMaxMsgSize, max_age: 3_600_000_000_000 })
    expect(await configOf(streams.deadLetters)).toMatchObject({ max_age: 2 * day, max_bytes: 1_048_576 })
    // BERTH_EVENTS never expires, whatever was set by hand.
    expect(await configOf(streams.events)).toMatchObject({ max_age: 0, max_bytes: -1, max_msgs: -1 })
  })

  it("an invalid setting stops the start with a message naming it", async () => {
    const exit = await Effect.runPromiseExit(ensureStreams(jsm).pipe(withSettings({ BERTH_DLQ_MAX_BYTES: "0" })))
    expect(exit._tag).toBe("Failure")
    expect(String(exit)).toContain("BERTH_DLQ_MAX_BYTES must be a positive number of bytes")
  })
})

describe("BERTH_COMMANDS refuses a message over its max_msg_size at publish time", () => {
  const js = () => jetstream(nc)

  it("a command of 256 KiB with the API's headers is stored", async () => {
    await Effect.runPromise(ensureStreams(jsm).pipe(withSettings({})))
    const body = `{"padding":"${"x".repeat(limits.commandBytes - 14)}"}`
    expect(Buffer.byteLength(body)).toBe(limits.commandBytes)
    const ack = await js().publish(subjects.command("proj_size"), body, { msgID: `proj_size:${"c".repeat(128)}`, expect: { streamName: streams.commands } })
    expect(ack.stream).toBe(streams.commands)
  })

  it("a message over max_msg_size (body and headers) is refused, and the publisher sees why", async () => {
    const h = natsHeaders()
    h.set("X-Trace", "t".repeat(100))
    const body = "x".repeat(commandsMaxMsgSize)
    const before = (await jsm.streams.info(streams.commands)).state.messages
    await expect(js().publish(subjects.command("proj_size"), body, { headers: h })).rejects.toThrow(/message size exceeds maximum allowed/)
    expect((await jsm.streams.info(streams.commands)).state.messages).toBe(before)
  })
})
