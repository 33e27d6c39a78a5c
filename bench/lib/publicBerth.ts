/**
 * Berth through its public interface, for the public workloads: `src/main.ts` as `npm start` runs it
 * (a supervisor and one process per role, projector included) on the bench's nats-server and a fresh
 * PostgreSQL database, with an HTTP Connect-JSON fake Krane whose instances are RUNNING at the first
 * poll and all point at one small HTTP server that serves an OpenAPI document, so the scrape is a
 * real HTTP round trip. The bench talks to Berth only over NATS, as an independent service would.
 */
import { existsSync, readFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { startBerth, type BerthProcess } from "../../test/support/berthProcess.js"
import { startFakeKraneHttpServer, type FakeKraneHttpServer } from "../../test/support/FakeKraneHttpServer.js"
import { createDatabaseOn } from "../../test/support/servers.js"
import { mib, sleep } from "./stats.js"

const openApiDocument = `openapi: 3.0.3
info:
  title: Demo API
  version: 1.0.0
paths:
  /v1/hello:
    get:
      operationId: hello
      responses:
        "200":
          description: greeting
`

export interface PublicBerth {
  readonly berth: BerthProcess
  readonly krane: FakeKraneHttpServer
  /** Resident memory of the supervisor and every role process now, in MiB (from /proc). */
  readonly rssMiB: () => { readonly total: number; readonly byRole: Readonly<Record<string, number>> }
  /**
   * Each role's memory after a full garbage collection, in MiB (with `memoryDir`; bench/lib/memoryPreload.mjs),
   * and with BENCH_BERTH_HEAPSNAP set a heap snapshot of each beside it in that directory.
   */
  readonly heapMiB: () => Promise<Readonly<Record<string, RoleHeap>>>
  /** CPU time (user + system) each role process has used so far, in ms (from /proc). */
  readonly cpuMs: () => Readonly<Record<string, number>>
  readonly stop: () => Promise<void>
}

export interface RoleHeap {
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  /** RSS after the collection, and its parts: anonymous mappings (V8's heap and code, big mallocs), malloc's heap, files. */
  readonly rss: number
  readonly anon: number
  /** malloc's main heap and its per-thread arenas. */
  readonly malloc: number
  readonly files: number
}

const cpuProfilePreload = fileURLToPath(new URL("./cpuProfilePreload.mjs", import.meta.url))
const memoryPreload = fileURLToPath(new URL("./memoryPreload.mjs", import.meta.url))

const rssOf = (pid: number): number => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]
    return kb === undefined ? 0 : Number(kb) * 1024
  } catch {
    return 0
  }
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const ticksPerSecond = 100

const cpuMsOf = (pid: number): number => {
  try {
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
  } catch {
    return 0
  }
}

export const startPublicBerth = async (
  natsUrl: string,
  pgAdminUrl: string,
  options: { readonly memoryDir?: string } = {}
): Promise<PublicBerth> => {
  // Every instance of every deployment: one server answering any GET with the document.
  const instances = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/yaml" }).end(openApiDocument)
  })
  await new Promise<void>((resolve) => instances.listen(0, "127.0.0.1", resolve))
  const instancePort = (instances.address() as AddressInfo).port
  const krane = await startFakeKraneHttpServer()
  krane.krane.setInstanceAddress(() => `127.0.0.1:${instancePort}`)
  const profileDir = process.env["BENCH_BERTH_PROFILE"]
  const databaseUrl = await createDatabaseOn(pgAdminUrl, `berth_public_${Date.now()}`)
  // BENCH_BERTH_PROFILE=<dir>: a CPU profile of every Berth process (written when it stops).
  const preloads = [
    ...(profileDir === undefined || profileDir === "" ? [] : [cpuProfilePreload]),
    ...(options.memoryDir === undefined ? [] : [memoryPreload])
  ]
  const berth = await startBerth({
    NATS_URL: natsUrl,
    DATABASE_URL: databaseUrl,
    KRANE_URL: krane.url,
    ...(preloads.length === 0 ? {} : { NODE_OPTIONS: preloads.map((file) => `--import=${file}`).join(" ") }),
    ...(options.memoryDir === undefined ? {} : { BENCH_BERTH_MEMORY: options.memoryDir })
  })
  const processes = () => {
    const info = JSON.parse(readFileSync(join(berth.dataDir, "run.json"), "utf8")) as {
      readonly supervisorPid?: unknown
      readonly roles?: Readonly<Record<string, { readonly pid?: unknown } | undefined>>
    }
    const roles: Array<[string, number]> = []
    for (const [role, entry] of Object.entries(info.roles ?? {})) if (typeof entry?.pid === "number") roles.push([role, entry.pid])
    return { supervisorPid: typeof info.supervisorPid === "number" ? info.supervisorPid : undefined, roles }
  }
  const rssMiB = () => {
    const { supervisorPid, roles } = processes()
    const byRole: Record<string, number> = {}
    let total = supervisorPid === undefined ? 0 : rssOf(supervisorPid)
    for (const [role, pid] of roles) {
      const bytes = rssOf(pid)
      byRole[role] = mib(bytes)
      total += bytes
    }
    return { total: mib(total), byRole }
  }
  const cpuMs = () => Object.fromEntries(processes().roles.map(([role, pid]) => [role, cpuMsOf(pid)]))
  const samples = new Map<number, number>()
  const heapMiB = async () => {
    const dir = options.memoryDir
    if (dir === undefined) return {}
    const { roles } = processes()
    const files = roles.map(([role, pid]) => {
      const n = (samples.get(pid) ?? 0) + 1
      samples.set(pid, n)
      process.kill(pid, "SIGUSR2")
      return [role, join(dir, `${role}-${pid}-${n}.json`)] as const
    })
    const byRole: Record<string, RoleHeap> = {}
    const deadline = Date.now() + 120_000
    for (const [role, file] of files) {
      while (!existsSync(file)) {
        if (Date.now() > deadline) throw new Error(`no memory report from ${role} (${file})`)
        await sleep(50)
      }
      const usage = JSON.parse(readFileSync(file, "utf8")) as {
        readonly heapUsed: number
        readonly heapTotal: number
        readonly external: number
        readonly rss: number
        readonly residentMiB: Readonly<Record<string, number | undefined>>
      }
      byRole[role] = {
        heapUsed: mib(usage.heapUsed),
        heapTotal: mib(usage.heapTotal),
        external: mib(usage.external),
        rss: mib(usage.rss),
        anon: usage.residentMiB["anon"] ?? 0,
        malloc: (usage.residentMiB["[heap]"] ?? 0) + (usage.residentMiB["arenas"] ?? 0),
        files: usage.residentMiB["files"] ?? 0
      }
    }
    return byRole
  }
  return {
    berth,
    krane,
    rssMiB,
    heapMiB,
    cpuMs,
    stop: async () => {
      await berth.kill("SIGTERM")
      await krane.close()
      instances.closeAllConnections()
      await new Promise<void>((resolve) => instances.close(() => resolve()))
    }
  }
}
