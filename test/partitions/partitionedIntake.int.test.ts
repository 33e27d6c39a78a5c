/**
 * Partitioned ownership against real nats-servers: the server's mapping puts each project where Berth
 * computes it, detection tells a partitioning server from a stock one (and refuses a count that does not
 * match), permissions still confine publishers to `berth.cmd.*`, and two orchestrators on a partitioned
 * server split the partitions, decide every command once, and hand over at a graceful stop without
 * waiting for a lease to lapse.
 */
import { Kvm } from "@nats-io/kv"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Duration, Effect, Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connectionAuth } from "../../src/nats/natsAuth.js"
import { ensureStreams } from "../../src/nats/Nats.js"
import { buckets, streams, subjects } from "../../src/nats/subjects.js"
import { detectPartitioning } from "../../src/partitions/detect.js"
import { partitionOf } from "../../src/partitions/partitioning.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { connectClient, createProjectCommand, deployCommand, fastSettings, startOrchestrator } from "../support/orchestrator.js"
import { startTestNats, startTestNatsWithUsers, type TestNats } from "../support/servers.js"

const partitions = 8

let stock: TestNats
let mapped: TestNats
beforeAll(async () => {
  ;[stock, mapped] = await Promise.all([startTestNats(), startTestNats({ partitions })])
})
afterAll(async () => {
  await Promise.all([stock?.stop(), mapped?.stop()])
})

const withConnection = async <A>(url: string, use: (nc: NatsConnection) => Promise<A>): Promise<A> => {
  const nc = await connect({ servers: url })
  try {
    return await use(nc)
  } finally {
    await nc.close()
  }
}

describe("the partition mapping", () => {
  it("puts every project in the partition Berth computes for it", async () => {
    const heard = await withConnection(mapped.url, async (nc) => {
      const got: Array<string> = []
      const sub = nc.subscribe("berth.pcmd.>", { callback: (_, message) => void got.push(message.subject) })
      await nc.flush()
      const ids = Array.from({ length: 200 }, (_, i) => `proj_${i.toString(36)}_${(i * 7919).toString(16)}`)
      for (const id of ids) nc.publish(subjects.command(id), "{}")
      await nc.flush()
      const deadline = Date.now() + 5_000
      while (got.length < ids.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
      sub.unsubscribe()
      return { ids, got }
    })
    expect(heard.got).toEqual(heard.ids.map((id) => subjects.partitionedCommand(partitionOf(id, partitions), id)))
  })

  it("is detected, and nothing is stored by asking", async () => {
    const seen = await withConnection(mapped.url, async (nc) => {
      await Effect.runPromise(ensureStreams(await jetstreamManager(nc)))
      const before = (await (await jetstreamManager(nc)).streams.info(streams.commands)).state.messages
      const on = await Effect.runPromise(detectPartitioning(nc, partitions))
      const mismatch = await Effect.runPromise(Effect.either(detectPartitioning(nc, partitions * 2)))
      const after = (await (await jetstreamManager(nc)).streams.info(streams.commands)).state.messages
      return { on, mismatch, stored: after - before }
    })
    expect(seen.on).toEqual({ _tag: "On", partitions })
    expect(Either.isLeft(seen.mismatch) && seen.mismatch.left._tag).toBe("PartitionCountMismatch")
    expect(seen.stored).toBe(0)
    const off = await withConnection(stock.url, async (nc) => {
      await Effect.runPromise(ensureStreams(await jetstreamManager(nc)))
      return Effect.runPromise(detectPartitioning(nc, partitions))
    })
    expect(off._tag).toBe("Off")
  })

  it("lets Berth's users publish and probe: permissions apply to the mapped subject", async () => {
    const server = await startTestNatsWithUsers({ partitions })
    try {
      const auth = async (user: "publisher" | "orchestrator" | "admin") => Effect.runPromise(connectionAuth(server.clients[user]))
      const orchestrator = await connect({ ...(await auth("orchestrator")), servers: server.url })
      await Effect.runPromise(ensureStreams(await jetstreamManager(orchestrator)))
      expect(await Effect.runPromise(detectPartitioning(orchestrator, partitions))).toEqual({ _tag: "On", partitions })
      await orchestrator.close()
      const publisher = await connect({ ...(await auth("publisher")), servers: server.url })
      try {
        const js = jetstream(publisher)
        const ack = await js.publish(subjects.command("proj_mapped"), "{}")
        expect(ack.stream).toBe(streams.commands)
        const admin = await connect({ ...(await auth("admin")), servers: server.url })
        const stored = await (await jetstreamManager(admin)).streams.getMessage(streams.commands, { seq: ack.seq })
        await admin.close()
        expect(stored?.subject).toBe(subjects.partitionedCommand(partitionOf("proj_mapped", partitions), "proj_mapped"))
      } finally {
        await publisher.close()
      }
    } finally {
      await server.stop()
    }
  })
})

describe("two orchestrators on a partitioned server", () => {
  const settings = { ...fastSettings, partitions, leaseTtl: Duration.seconds(2) }

  const owners = async (nc: NatsConnection) => {
    const kv = await new Kvm(nc).open(buckets.partitions)
    const found = new Map<number, string>()
    for (let p = 0; p < partitions; p++) {
      const entry = await kv.get(`partitions.${p}`)
      if (entry?.operation === "PUT") found.set(p, entry.json<{ owner: string }>().owner)
    }
    return found
  }

  it("split the partitions, decide every command once, and hand over at a graceful stop", async () => {
    const krane = makeFakeKrane()
    const client = await connectClient(mapped.url)
    const a = await startOrchestrator(mapped.url, krane.layer, settings)
    const b = await startOrchestrator(mapped.url, krane.layer, settings)
    let bStopped = false
    try {
      const deadline = Date.now() + 15_000
      for (;;) {
        const counts = [...(await owners(client.nc)).values()].reduce((m, o) => m.set(o, (m.get(o) ?? 0) + 1), new Map<string, number>())
        if (counts.size === 2 && [...counts.values()].every((n) => n === partitions / 2)) break
        if (Date.now() > deadline) throw new Error(`partitions not split: ${JSON.stringify([...counts])}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const projects = Array.from({ length: 16 }, (_, i) => `proj_split_${i}`)
      for (const projectId of projects) {
        await client.publish(projectId, createProjectCommand(projectId))
        await client.publish(projectId, deployCommand(projectId, `dep_${projectId}`))
      }
      for (const projectId of projects) await client.waitForEvent(projectId, (event) => event.type === "DeploymentReady")

      // A command published straight to another partition than its project's is dead-lettered, not decided.
      const wrong = (partitionOf("proj_wrong", partitions) + 1) % partitions
      await client.publishRaw(subjects.partitionedCommand(wrong, "proj_wrong"), JSON.stringify(createProjectCommand("proj_wrong")))

      // b leaves: its partitions move to a at once, well before a lease could lapse.
      const stopping = performance.now()
      await b.stop()
      bStopped = true
      while ((await owners(client.nc)).size < partitions || new Set((await owners(client.nc)).values()).size !== 1) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      expect(performance.now() - stopping).toBeLessThan(Duration.toMillis(settings.leaseTtl) / 2)
      for (const projectId of projects) await client.publish(projectId, deployCommand(projectId, `dep_${projectId}_after`))
      for (const projectId of projects) await client.waitForEvent(projectId, (event) => event.type === "DeploymentReady" && event.deploymentId === `dep_${projectId}_after`)

      const deadLetter = await (await jetstreamManager(client.nc)).streams.getMessage(streams.deadLetters, { last_by_subj: subjects.deadLetter("subject-mismatch") })
      expect(deadLetter?.header.get("Berth-Original-Subject")).toBe(subjects.partitionedCommand(wrong, "proj_wrong"))
      expect(await client.events("proj_wrong")).toEqual([])

      for (const projectId of projects) {
        const envelopes = await client.envelopes(projectId)
        const commandIds = envelopes.flatMap((envelope) => (envelope.commandId === null ? [] : [envelope.commandId]))
        expect(commandIds).toEqual([`cmd_create_${projectId}`, `cmd_dep_${projectId}`, `cmd_dep_${projectId}_after`])
      }
    } finally {
      if (!bStopped) await b.stop()
      await a.stop()
      await client.close()
    }
  })
})
