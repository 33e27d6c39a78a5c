/**
 * Berth on a real three-node NATS cluster (test/support/natsCluster.ts) beside a single server: the
 * replica count each detects, streams and buckets created with it, older R1 streams raised to it, a
 * NATS_URL list whose first server is down, and two writers racing for one project version on an R3
 * stream, of which exactly one may win.
 */
import { jetstreamManager, type JetStreamManager, StorageType } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Either, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EventStore, type NewEnvelope } from "../../src/eventstore/EventStore.js"
import { EventStoreLive } from "../../src/eventstore/JetStreamEventStore.js"
import { openKv } from "../../src/nats/buckets.js"
import { Nats, type NatsService } from "../../src/nats/Nats.js"
import { buckets, kvStream, streams, subjects } from "../../src/nats/subjects.js"
import { startTestNatsCluster, type TestNatsCluster } from "../support/natsCluster.js"
import { startTestNats } from "../support/servers.js"

let cluster: TestNatsCluster
let nc: NatsConnection
let jsm: JetStreamManager

beforeAll(async () => {
  cluster = await startTestNatsCluster()
  nc = await connect({ servers: cluster.url.split(",") })
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  await nc?.close()
  await cluster?.close()
})

const replicasOf = async (stream: string) => (await jsm.streams.info(stream)).config.num_replicas

const withNats = async <A>(url: string, use: (nats: NatsService) => Promise<A>): Promise<A> => {
  const runtime = ManagedRuntime.make(Nats.layer(url))
  try {
    return await use(await runtime.runPromise(Nats))
  } finally {
    await runtime.dispose()
  }
}

describe("replicas", () => {
  it("a single server: 1 replica, detected, and the streams have one", async () => {
    const server = await startTestNats()
    try {
      await withNats(server.url, async (nats) => {
        expect(nats.replication).toEqual({ replicas: 1, source: "detected", cluster: undefined, servers: 1 })
        expect((await nats.jsm.streams.info(streams.events)).config.num_replicas).toBe(1)
      })
    } finally {
      await server.stop()
    }
  })

  it("a cluster of three: 3 replicas for every stream and bucket, older R1 ones raised to 3", async () => {
    // As a Berth on a single server left them before the server joined a cluster: R1.
    await jsm.streams.add({ name: streams.commands, subjects: [subjects.commandsAll], storage: StorageType.File, num_replicas: 1 })
    await new Kvm(nc).create(buckets.routes, { history: 5, replicas: 1 })
    expect(await replicasOf(streams.commands)).toBe(1)

    await withNats(cluster.url, async (nats) => {
      expect(nats.replication).toEqual({ replicas: 3, source: "detected", cluster: "berth", servers: 3 })
      await Effect.runPromise(openKv(nats, buckets.quarantine, { history: 1 }))
    })
    expect(await replicasOf(streams.events)).toBe(3)
    expect(await replicasOf(streams.deadLetters)).toBe(3)
    expect(await replicasOf(streams.commands)).toBe(3)
    expect(await replicasOf(kvStream(buckets.routes))).toBe(3)
    expect(await replicasOf(kvStream(buckets.quarantine))).toBe(3)
  })

  it("a NATS_URL list whose first server is down still connects (to another)", async () => {
    const url = `nats://127.0.0.1:1,${cluster.url}`
    await withNats(url, async (nats) => {
      expect(nats.replication.replicas).toBe(3)
      expect(await nats.nc.rtt()).toBeGreaterThanOrEqual(0)
    })
  })
})

describe("appends on an R3 stream", () => {
  it("of two writers appending after the same version at once, exactly one is stored", async () => {
    // Two event stores on connections of their own, each to a different node (the leader checks both).
    const nodes = cluster.nodes.map((node) => node.url)
    const runtimes = [0, 1].map((i) => ManagedRuntime.make(EventStoreLive.pipe(Layer.provideMerge(Nats.layer(nodes[i] ?? "")))))
    try {
      const stores: Array<EventStore["Type"]> = []
      // One after the other: the first creates the streams, the second finds them.
      for (const runtime of runtimes) stores.push(await runtime.runPromise(EventStore))
      const envelope = (writer: number): NewEnvelope => ({ commandId: `cmd_${writer}`, at: Date.now(), events: [] })
      let version = 0
      const projectId = `proj_race_${Date.now()}`
      const rounds = 60
      let doubles = 0
      for (let round = 0; round < rounds; round++) {
        const outcomes = await Promise.all(
          stores.map((store, writer) => Effect.runPromise(Effect.either(store.append(projectId, version, envelope(writer)))))
        )
        const stored = outcomes.filter(Either.isRight).map((outcome) => outcome.right)
        if (stored.length === 0) throw new Error(`round ${round}: neither append was stored: ${JSON.stringify(outcomes)}`)
        if (stored.length > 1) doubles++
        version = Math.max(...stored)
      }
      expect(doubles, "rounds in which both appends after one version were stored").toBe(0)
      // The log agrees: one envelope per round, each after the one before.
      const info = await jsm.streams.info(streams.events, { subjects_filter: subjects.events(projectId) })
      expect(info.state.subjects?.[subjects.events(projectId)]).toBe(rounds)
    } finally {
      await Promise.all(runtimes.map((runtime) => runtime.dispose()))
    }
  })
})
