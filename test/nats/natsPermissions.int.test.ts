/**
 * NATS least privilege against a real nats-server configured as `npm start` configures Berth's own
 * (generated users and permissions): each role can do its job and nothing that belongs to another.
 * A refused operation is what the user of that NATS account would see: the publish or request fails.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { Objm } from "@nats-io/obj"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type NatsClientAuth, connectionAuth } from "../../src/nats/natsAuth.js"
import { ensureStreams } from "../../src/nats/Nats.js"
import type { NatsUser } from "../../src/nats/permissions.js"
import { buckets, streams } from "../../src/nats/subjects.js"
import { startTestNatsWithUsers, type TestNatsWithUsers } from "../support/servers.js"

interface Client {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
}

let nats: TestNatsWithUsers
const clients: Array<NatsConnection> = []

const connectWith = async (client: NatsClientAuth): Promise<Client> => {
  const auth = await Effect.runPromise(connectionAuth(client))
  const nc = await connect({ ...auth, servers: nats.url, reconnect: false, timeout: 3_000 })
  clients.push(nc)
  return { nc, js: jetstream(nc, { timeout: 2_000 }), jsm: await jetstreamManager(nc) }
}
const as = (user: NatsUser) => connectWith(nats.clients[user])

/** "ok", or the error a refused operation ends with. */
const attempt = async (operation: () => Promise<unknown>): Promise<string> => {
  try {
    await operation()
    return "ok"
  } catch (error) {
    return `refused: ${error instanceof Error ? error.message : String(error)}`
  }
}

/** What nats-server answers a publish (or API request) the user's permissions do not allow. */
const refused = (subject: string) => `refused: Permissions Violation for Publish to "${subject}"`

const route = JSON.stringify({ projectId: "proj_a", routes: [] })

beforeAll(async () => {
  nats = await startTestNatsWithUsers()
  // The orchestrator sets everything up, as it does at every start.
  const orchestrator = await as("orchestrator")
  await Effect.runPromise(ensureStreams(orchestrator.jsm))
  const kvm = new Kvm(orchestrator.nc)
  for (const bucket of [buckets.snapshots, buckets.archive, buckets.routes, buckets.inflight, buckets.quarantine, buckets.hostnames]) {
    await kvm.create(bucket, { history: 1 })
  }
  await kvm.create(buckets.health, { history: 1, ttl: 30_000 })
  await (await kvm.open(buckets.routes)).put("proj_a", route)
  await orchestrator.js.publish("berth.evt.proj_a", JSON.stringify({ commandId: null, events: [] }))
})

afterAll(async () => {
  await Promise.all(clients.map((nc) => nc.close()))
  await nats?.stop()
})

describe("connecting", () => {
  it("refuses anonymous connections and wrong passwords", async () => {
    expect(await attempt(() => connect({ servers: nats.url, reconnect: false, timeout: 3_000 }))).toMatch(/refused: .*Authorization/i)
    expect(
      await attempt(() => connect({ servers: nats.url, user: "publisher", pass: "not-the-password", reconnect: false, timeout: 3_000 }))
    ).toMatch(/refused: .*Authorization/i)
  })

  it("refuses a reply inbox outside the user's own prefix", async () => {
    const auth = await Effect.runPromise(connectionAuth(nats.clients.publisher))
    const nc = await connect({ ...auth, inboxPrefix: "_INBOX_orchestrator", servers: nats.url, reconnect: false })
    clients.push(nc)
    expect(await attempt(() => jetstreamManager(nc))).toMatch(/^refused: Permissions Violation for Subscription to "_INBOX_orchestrator\./)
  })
})

describe("the orchestrator", () => {
  it("ensures streams, appends events, dead-letters and writes routes and the object store", async () => {
    const { js, jsm, nc } = await as("orchestrator")
    expect(await attempt(() => Effect.runPromise(ensureStreams(jsm)))).toBe("ok")
    expect(await attempt(() => js.publish("berth.evt.proj_b", "{}"))).toBe("ok")
    expect(await attempt(() => js.publish("berth.dlq.invalid", "{}"))).toBe("ok")
    expect(await attempt(async () => (await new Kvm(nc).open(buckets.routes)).put("proj_b", route))).toBe("ok")
    expect(await attempt(async () => (await new Objm(nc).create(buckets.openApi)).putBlob({ name: "proj_b/dep_1" }, new Uint8Array([1])))).toBe("ok")
  })
})

describe("a publisher", () => {
  it("publishes commands and reads events", async () => {
    const { js } = await as("publisher")
    expect(await attempt(() => js.publish("berth.cmd.proj_a", "{}"))).toBe("ok")
    const consumer = await js.consumers.get(streams.events)
    const message = await consumer.next({ expires: 2_000 })
    expect(message?.subject).toBe("berth.evt.proj_a")
  })

  it("cannot append to BERTH_EVENTS, write routes, create streams or use a command subject with extra tokens", async () => {
    const { js, jsm, nc } = await as("publisher")
    expect(await attempt(() => js.publish("berth.evt.proj_a", "{}"))).toBe(refused("berth.evt.proj_a"))
    expect(await attempt(() => js.publish("berth.dlq.invalid", "{}"))).toBe(refused("berth.dlq.invalid"))
    expect(await attempt(() => js.publish("berth.cmd.a.b.proj_x", "{}"))).toBe(refused("berth.cmd.a.b.proj_x"))
    expect(await attempt(() => js.publish(`$KV.${buckets.routes}.proj_a`, "{}"))).toBe(refused("$KV.berth_routes.proj_a"))
    expect(await attempt(() => jsm.streams.add({ name: "EVIL", subjects: ["evil.>"] }))).toBe(refused("$JS.API.STREAM.CREATE.EVIL"))
    expect(await attempt(() => jsm.streams.update(streams.events, { max_age: 1_000_000_000 }))).toBe(refused("$JS.API.STREAM.UPDATE.BERTH_EVENTS"))
    expect(await attempt(() => jsm.streams.purge(streams.events))).toBe(refused("$JS.API.STREAM.PURGE.BERTH_EVENTS"))
    expect(await attempt(async () => (await new Kvm(nc).create(buckets.routes)).put("proj_a", "{}"))).toBe(refused("$JS.API.STREAM.INFO.KV_berth_routes"))
  })
})

describe("the gateway", () => {
  it("reads routes and cannot write them, nor read events", async () => {
    const { nc, js, jsm } = await as("gateway")
    expect(await attempt(() => jsm.streams.info(streams.events))).toBe(refused(`$JS.API.STREAM.INFO.${streams.events}`))
    const routes = await new Kvm(nc).create(buckets.routes)
    expect((await routes.get("proj_a"))?.string()).toBe(route)
    expect(await attempt(() => routes.put("proj_a", "{}"))).toBe(refused("$KV.berth_routes.proj_a"))
    expect(await attempt(() => routes.delete("proj_a"))).toBe(refused("$KV.berth_routes.proj_a"))
    expect(await attempt(() => js.publish("berth.cmd.proj_a", "{}"))).toBe(refused("berth.cmd.proj_a"))
  })
})

describe("the API", () => {
  it("publishes commands and keeps its token bucket, but cannot read or append events or write routes", async () => {
    const { nc, js, jsm } = await as("api")
    expect(await attempt(() => jsm.streams.info(streams.events))).toBe(refused(`$JS.API.STREAM.INFO.${streams.events}`))
    expect(await attempt(() => js.publish("berth.cmd.proj_a", "{}"))).toBe("ok")
    expect(await attempt(async () => (await new Kvm(nc).create(buckets.tokens)).put("tok_1", "{}"))).toBe("ok")
    expect(await attempt(() => js.publish("berth.evt.proj_a", "{}"))).toBe(refused("berth.evt.proj_a"))
    expect(await attempt(async () => (await new Kvm(nc).create(buckets.routes)).put("proj_a", "{}"))).toBe(refused("$JS.API.STREAM.INFO.KV_berth_routes"))
    expect(await attempt(async () => (await new Kvm(nc).create(buckets.quarantine)).put("proj_a", "{}"))).toBe(refused("$KV.berth_quarantine.proj_a"))
  })
})

describe("an operator", () => {
  it("deletes an undecodable event as admin, which no role may do", async () => {
    const orchestrator = await as("orchestrator")
    const { seq } = await orchestrator.js.publish("berth.evt.proj_bad", "not an envelope")
    expect(await attempt(() => orchestrator.jsm.streams.deleteMessage(streams.events, seq))).toBe(
      refused(`$JS.API.STREAM.MSG.DELETE.${streams.events}`)
    )
    const admin = await as("admin")
    expect(await attempt(() => admin.jsm.streams.deleteMessage(streams.events, seq))).toBe("ok")
  })
})

describe("the projector", () => {
  it("reads events and cannot append them", async () => {
    const { js } = await as("projector")
    const consumer = await js.consumers.get(streams.events)
    expect((await consumer.next({ expires: 2_000 }))?.subject).toBe("berth.evt.proj_a")
    expect(await attempt(() => js.publish("berth.evt.proj_a", "{}"))).toBe(refused("berth.evt.proj_a"))
    expect(await attempt(() => js.publish("berth.cmd.proj_a", "{}"))).toBe(refused("berth.cmd.proj_a"))
  })
})
