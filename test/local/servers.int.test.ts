/**
 * Our own nats-server and PostgreSQL start on free ports, work, stop and free their port,
 * without touching the system servers on 4222/5432.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { connect as netConnect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Scope } from "effect"
import postgres from "postgres"
import { describe, expect, inject, it } from "vitest"
import { isPortFree } from "../../src/local/binaries.js"
import { startPostgresServer } from "../../src/local/PostgresServer.js"
import { redactUrl } from "../../src/shared/redactUrl.js"
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
      expect(pg.url).toMatch(new RegExp(`^postgres://postgres:[A-Za-z0-9_-]{43}@127\\.0\\.0\\.1:${pg.port}/berth$`))
      const sql = postgres(pg.url, { max: 1 })
      try {
        expect(await sql`select 1 as one`).toEqual([{ one: 1 }])
      } finally {
        await sql.end()
      }
      const dbUrl = await pg.createDatabase()
      expect(dbUrl).toMatch(new RegExp(`^postgres://postgres:[A-Za-z0-9_-]{43}@127\\.0\\.0\\.1:${pg.port}/t_`))
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

  it("our PostgreSQL refuses a connection without its generated password, also on a cluster an older release left on trust", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-test-pg-auth-"))
    chmodSync(dir, 0o755) // PostgreSQL runs as the postgres user when we are root
    const dataDir = join(dir, "pg")
    const start = async () => {
      const scope = Effect.runSync(Scope.make())
      const info = await Effect.runPromise(Scope.extend(startPostgresServer({ dataDir, fast: true }), scope))
      return { info, stop: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
    }
    /** The error code (or "ok") of `select 1` over TCP as `url`. */
    const attempt = async (url: string) => {
      const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} })
      try {
        await sql`select 1`
        return "ok"
      } catch (error) {
        return String((error as { code?: unknown }).code ?? (error as Error).message)
      } finally {
        await sql.end({ timeout: 1 })
      }
    }
    try {
      const first = await start()
      const { port, url } = first.info
      const password = readFileSync(join(dir, "postgres.password"), "utf8").trim()
      try {
        expect(statSync(join(dir, "postgres.password")).mode & 0o777).toBe(0o600)
        expect(url).toBe(`postgres://postgres:${password}@127.0.0.1:${port}/berth`)
        expect(redactUrl(url)).toBe(`postgres://postgres:***@127.0.0.1:${port}/berth`)
        expect(await attempt(url)).toBe("ok")
        expect(await attempt(`postgres://postgres:wrong-password@127.0.0.1:${port}/berth`)).toBe("28P01") // invalid_password
        expect(await attempt(`postgres://postgres@127.0.0.1:${port}/berth`)).toBe("28P01")
      } finally {
        await first.stop()
      }

      // As an older release left it: every connection trusted.
      writeFileSync(join(dataDir, "pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 trust\n")
      const second = await start()
      try {
        expect(second.info.url).toBe(url.replace(`:${port}/`, `:${second.info.port}/`)) // the same password
        expect(await attempt(second.info.url)).toBe("ok")
        expect(await attempt(`postgres://postgres@127.0.0.1:${second.info.port}/berth`)).toBe("28P01")
        expect(await attempt(`postgres://postgres:wrong-password@127.0.0.1:${second.info.port}/berth`)).toBe("28P01")
      } finally {
        await second.stop()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
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
