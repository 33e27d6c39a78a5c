/**
 * Berth through its public interface, for the public workloads: `src/main.ts` as `npm start` runs it
 * (a supervisor and one process per role, projector included) on the bench's nats-server and a fresh
 * PostgreSQL database, with an HTTP Connect-JSON fake Krane whose instances are RUNNING at the first
 * poll and all point at one small HTTP server that serves an OpenAPI document, so the scrape is a
 * real HTTP round trip. The bench talks to Berth only over NATS, as an independent service would.
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { startBerth, type BerthProcess } from "../../test/support/berthProcess.js"
import { startFakeKraneHttpServer, type FakeKraneHttpServer } from "../../test/support/FakeKraneHttpServer.js"
import { createDatabaseOn } from "../../test/support/servers.js"
import { mib } from "./stats.js"

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
  /** CPU time (user + system) each role process has used so far, in ms (from /proc). */
  readonly cpuMs: () => Readonly<Record<string, number>>
  readonly stop: () => Promise<void>
}

const cpuProfilePreload = fileURLToPath(new URL("./cpuProfilePreload.mjs", import.meta.url))

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

export const startPublicBerth = async (natsUrl: string, pgAdminUrl: string): Promise<PublicBerth> => {
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
  const berth = await startBerth({
    NATS_URL: natsUrl,
    DATABASE_URL: databaseUrl,
    KRANE_URL: krane.url,
    // BENCH_BERTH_PROFILE=<dir>: a CPU profile of every Berth process (written when it stops).
    ...(profileDir === undefined || profileDir === "" ? {} : { NODE_OPTIONS: `--import=${cpuProfilePreload}` })
  })
  const rolePids = (): Readonly<Record<string, number>> => {
    const info = JSON.parse(readFileSync(join(berth.dataDir, "run.json"), "utf8")) as {
      readonly roles?: Readonly<Record<string, { readonly pid?: unknown } | undefined>>
    }
    const pids: Record<string, number> = {}
    for (const [role, entry] of Object.entries(info.roles ?? {})) if (typeof entry?.pid === "number") pids[role] = entry.pid
    return pids
  }
  const cpuMs = () => Object.fromEntries(Object.entries(rolePids()).map(([role, pid]) => [role, cpuMsOf(pid)]))
  const rssMiB = () => {
    const info = JSON.parse(readFileSync(join(berth.dataDir, "run.json"), "utf8")) as {
      readonly supervisorPid?: unknown
      readonly roles?: Readonly<Record<string, { readonly pid?: unknown } | undefined>>
    }
    const byRole: Record<string, number> = {}
    let total = typeof info.supervisorPid === "number" ? rssOf(info.supervisorPid) : 0
    for (const [role, entry] of Object.entries(info.roles ?? {})) {
      const pid = entry?.pid
      if (typeof pid !== "number") continue
      const bytes = rssOf(pid)
      byRole[role] = mib(bytes)
      total += bytes
    }
    return { total: mib(total), byRole }
  }
  return {
    berth,
    krane,
    rssMiB,
    cpuMs,
    stop: async () => {
      await berth.kill("SIGTERM")
      await krane.close()
      instances.closeAllConnections()
      await new Promise<void>((resolve) => instances.close(() => resolve()))
    }
  }
}
