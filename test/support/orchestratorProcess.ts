/**
 * One orchestrator as a real process (`node --import tsx src/roles/process.ts orchestrator`, what
 * `berth up --roles orchestrator` runs on another machine), without a supervisor: a kill -9 or a
 * SIGSTOP is the test's to give, and nothing restarts it.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

export interface OrchestratorProcess {
  readonly pid: number
  readonly output: () => string
  /** Resolves once `pattern` appears in the output (after `from`, a length of it seen before). */
  readonly waitForOutput: (pattern: RegExp, timeoutMs?: number, from?: number) => Promise<void>
  readonly signal: (signal: NodeJS.Signals) => void
  /** SIGTERM (a graceful stop) or SIGKILL, then waits for the exit and removes the data dir. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

export const startOrchestratorProcess = async (env: Readonly<Record<string, string>>): Promise<OrchestratorProcess> => {
  const dataDir = mkdtempSync(join(tmpdir(), "berth-orchestrator-"))
  const { NATS_URL: _nats, KRANE_URL: _krane, DATABASE_URL: _database, ...inherited } = process.env
  const child = spawn(process.execPath, ["--import", "tsx", "src/roles/process.ts", "orchestrator"], {
    cwd: projectRoot,
    env: { ...inherited, BERTH_DATA_DIR: dataDir, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const pid = child.pid
  if (pid === undefined) throw new Error("the orchestrator process did not start")
  const waitForOutput = async (pattern: RegExp, timeoutMs = 60_000, from = 0) => {
    const deadline = Date.now() + timeoutMs
    while (!pattern.test(output.slice(from))) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the orchestrator exited (${child.exitCode ?? child.signalCode}):\n${output}`)
      if (Date.now() > deadline) throw new Error(`no ${pattern} from the orchestrator within ${timeoutMs} ms:\n${output.slice(-4000)}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  await waitForOutput(/orchestrator ready/)
  return {
    pid,
    output: () => output,
    waitForOutput,
    signal: (signal) => void process.kill(pid, signal),
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, "SIGCONT")
        process.kill(pid, signal)
      }
      await exited
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}
