/**
 * Runs Berth as real processes (`node --import tsx src/main.ts`, what `npm start` runs: a supervisor and
 * one process per role) against given NATS, PostgreSQL and Krane URLs, so end-to-end tests can kill all
 * of it with SIGKILL (a machine crash) or one role at a time.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

export interface BerthProcess {
  readonly api: string
  /** The gateway's base URL: send requests here with the Host header of a deployment's hostname. */
  readonly gateway: string
  /** krane-local's URL (when Berth runs its own, i.e. without KRANE_URL). */
  readonly krane: string
  /** The data dir (run.json, admin-token, nats/), removed by kill(). */
  readonly dataDir: string
  /** The NATS URL Berth wrote to run.json (its own nats-server's, without NATS_URL). */
  readonly natsUrl: () => string
  /** The admin token: BERTH_ADMIN_TOKEN when given, else the one Berth generated in its data dir. */
  readonly token: string
  /** `{ authorization: "Bearer <admin token>" }` for requests to the API. */
  readonly headers: { readonly authorization: string }
  /** The secret Berth generated for its krane-local (`<data dir>/krane-local.secret`), to call it directly. */
  readonly kraneToken: () => string
  readonly output: () => string
  /** SIGKILL kills the supervisor and every role at once (the process group); other signals go to the supervisor. */
  readonly kill: (signal?: NodeJS.Signals) => Promise<number | null>
  /** The pid the supervisor reports for a role now (it changes when the role is restarted). */
  readonly rolePid: (role: string) => number | undefined
  /** Kills one role's process; the supervisor restarts it. */
  readonly killRole: (role: string, signal?: NodeJS.Signals) => number
}

export const freeTcpPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/**
 * Without KRANE_URL, Berth runs its own krane-local (real processes); without DATABASE_URL (only for
 * role subsets that need no PostgreSQL), it would start its own PostgreSQL; without NATS_URL, its own
 * nats-server with users (as `npm start` does).
 */
export const startBerth = async (
  env: {
    readonly NATS_URL?: string
    readonly DATABASE_URL?: string
    readonly KRANE_URL?: string
    readonly [key: string]: string | undefined
  },
  /** Command-line arguments of `berth up` (e.g. `--cluster 3`). */
  args: ReadonlyArray<string> = []
): Promise<BerthProcess> => {
  const port = await freeTcpPort()
  const gatewayPort = await freeTcpPort()
  const kranePort = await freeTcpPort()
  const dataDir = mkdtempSync(join(tmpdir(), "berth-e2e-"))
  let output = ""
  // Only the URLs given: none leaks in from the environment the tests run in.
  const { NATS_URL: _nats, DATABASE_URL: _database, KRANE_URL: _krane, ...inherited } = process.env
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: projectRoot,
    env: {
      ...inherited,
      BERTH_API_PORT: String(port),
      BERTH_GATEWAY_PORT: String(gatewayPort),
      BERTH_KRANE_LOCAL_PORT: String(kranePort),
      BERTH_DATA_DIR: dataDir,
      BERTH_POLL_INTERVAL: "50 millis",
      ...env
    },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so SIGKILL can take the supervisor and its roles down together.
    detached: true
  })
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  // Five Node processes start at once: generous on a loaded 2-core machine.
  const deadline = Date.now() + 90_000
  while (!output.includes("Berth is running")) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`Berth did not start (exit ${child.exitCode}):\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const runInfo = (): unknown => JSON.parse(readFileSync(join(dataDir, "run.json"), "utf8"))
  const token = env["BERTH_ADMIN_TOKEN"] ?? (existsSync(join(dataDir, "admin-token")) ? readFileSync(join(dataDir, "admin-token"), "utf8").trim() : "")
  const rolePid = (role: string): number | undefined => {
    try {
      const info = runInfo()
      if (typeof info !== "object" || info === null || !("roles" in info)) return undefined
      const roles = info.roles as Record<string, { readonly pid?: unknown } | undefined>
      const pid = roles[role]?.pid
      return typeof pid === "number" ? pid : undefined
    } catch {
      return undefined
    }
  }
  return {
    api: `http://127.0.0.1:${port}`,
    gateway: `http://127.0.0.1:${gatewayPort}`,
    krane: `http://127.0.0.1:${kranePort}`,
    dataDir,
    natsUrl: () => {
      const info = runInfo()
      if (typeof info === "object" && info !== null && "natsUrl" in info && typeof info.natsUrl === "string") return info.natsUrl
      throw new Error("no natsUrl in run.json")
    },
    token,
    headers: { authorization: `Bearer ${token}` },
    kraneToken: () => readFileSync(join(dataDir, "krane-local.secret"), "utf8").trim(),
    output: () => output,
    rolePid,
    killRole: (role, signal = "SIGKILL") => {
      const pid = rolePid(role)
      if (pid === undefined) throw new Error(`no ${role} process in run.json`)
      process.kill(pid, signal)
      return pid
    },
    kill: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.pid !== undefined) {
        if (signal === "SIGKILL") process.kill(-child.pid, "SIGKILL")
        else child.kill(signal)
      }
      const code = await exited
      rmSync(dataDir, { recursive: true, force: true })
      return code
    }
  }
}
