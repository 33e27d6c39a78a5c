/**
 * Runs Berth as a real process (`node --import tsx src/main.ts`, what `npm start` runs) against given NATS,
 * PostgreSQL and Krane URLs, so end-to-end tests can also kill it with SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
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
  readonly output: () => string
  readonly kill: (signal?: NodeJS.Signals) => Promise<number | null>
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

/** Without KRANE_URL, Berth runs its own krane-local (real processes). */
export const startBerth = async (env: {
  readonly NATS_URL: string
  readonly DATABASE_URL: string
  readonly KRANE_URL?: string
  readonly [key: string]: string | undefined
}): Promise<BerthProcess> => {
  const port = await freeTcpPort()
  const gatewayPort = await freeTcpPort()
  const kranePort = await freeTcpPort()
  const dataDir = mkdtempSync(join(tmpdir(), "berth-e2e-"))
  let output = ""
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: projectRoot,
    env: {
      ...process.env,
      BERTH_API_PORT: String(port),
      BERTH_GATEWAY_PORT: String(gatewayPort),
      BERTH_KRANE_LOCAL_PORT: String(kranePort),
      BERTH_DATA_DIR: dataDir,
      BERTH_POLL_INTERVAL: "50 millis",
      ...env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const deadline = Date.now() + 30_000
  while (!output.includes("Berth is running")) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`Berth did not start (exit ${child.exitCode}):\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    api: `http://127.0.0.1:${port}`,
    gateway: `http://127.0.0.1:${gatewayPort}`,
    krane: `http://127.0.0.1:${kranePort}`,
    output: () => output,
    kill: async (signal = "SIGTERM") => {
      if (child.exitCode === null) child.kill(signal)
      const code = await exited
      rmSync(dataDir, { recursive: true, force: true })
      return code
    }
  }
}
