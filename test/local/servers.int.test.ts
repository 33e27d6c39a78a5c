/**
 * Our own nats-server and PostgreSQL start on free ports, work, stop and free their port,
 * without touching the system servers on 4222/5432.
 */
import { connect as netConnect } from "node:net"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import postgres from "postgres"
import { describe, expect, inject, it } from "vitest"
import { isPortFree } from "../../src/local/binaries.js"
import { freshDatabase, startTestNats, startTestPostgres } from "../support/servers.js"

const reachable = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const sock = netConnect({ host: "127.0.0.1", port })
    sock.once("connect", () => (sock.destroy(), done(true)))
    sock.once("error", () => (sock.destroy(), done(false)))
  })

const portFree = (port: number) => Effect.runPromise(isPortFree(port))

describe("local servers", () => {
  it("runs our own JetStream nats-server on a free port and frees it on stop", async () => {
    const systemUp = await reachable(4222)
    const started = Date.now()
    const nats = await startTestNats()
    const startMs = Date.now() - started
    try {
      expect(nats.port).not.toBe(4222)
      expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`)
      const nc = await connect({ servers: nats.url })
      try {
        const jsm = await jetstreamManager(nc)
        await jsm.streams.add({ name: "SMOKE", subjects: ["smoke.>"] })
        const js = jetstream(nc)
        await js.publish("smoke.hello", "world")
        await jsm.consumers.add("SMOKE", { durable_name: "c1" })
        const consumer = await js.consumers.get("SMOKE", "c1")
        const msg = await consumer.next({ expires: 5_000 })
        expect(msg?.string()).toBe("world")
        msg?.ack()
        expect(nc.info?.max_payload).toBe(8 * 1024 * 1024) // nats.conf applied
      } finally {
        await nc.close()
      }
    } finally {
      await nats.stop()
    }
    expect(await portFree(nats.port)).toBe(true)
    expect(await reachable(4222)).toBe(systemUp)
    console.log(`nats-server start: ${startMs} ms`)
  })

  it("runs our own PostgreSQL, hands out fresh databases, and frees the port on stop", async () => {
    const systemUp = await reachable(5432)
    const started = Date.now()
    const pg = await startTestPostgres()
    const startMs = Date.now() - started
    try {
      expect(pg.port).not.toBe(5432)
      expect(pg.url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/berth`)
      const sql = postgres(pg.url, { max: 1 })
      try {
        expect(await sql`select 1 as one`).toEqual([{ one: 1 }])
      } finally {
        await sql.end()
      }
      const dbUrl = await pg.createDatabase()
      expect(dbUrl).toMatch(new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:${pg.port}/t_`))
      const db = postgres(dbUrl, { max: 1 })
      try {
        const [row] = await db`select current_database() as name, count(*)::int as tables from pg_tables where schemaname = 'public'`
        expect(row?.["tables"]).toBe(0)
        expect(dbUrl.endsWith(`/${String(row?.["name"])}`)).toBe(true)
      } finally {
        await db.end()
      }
    } finally {
      await pg.stop()
    }
    expect(await portFree(pg.port)).toBe(true)
    expect(await reachable(5432)).toBe(systemUp)
    console.log(`PostgreSQL start (initdb + start + create db): ${startMs} ms`)
  })

  it.runIf(inject("pgAdminUrl") !== undefined)("freshDatabase() gives an empty database on the run-wide server", async () => {
    const [a, b] = await Promise.all([freshDatabase(), freshDatabase()])
    expect(a).not.toBe(b)
    const sql = postgres(a ?? "", { max: 1 })
    try {
      expect(await sql`select count(*)::int as n from pg_tables where schemaname = 'public'`).toEqual([{ n: 0 }])
    } finally {
      await sql.end()
    }
  })
})
