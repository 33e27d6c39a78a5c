/**
 * A PostgreSQL that a test can crash and bring back on the same data dir and port: `crash()` is
 * `pg_ctl stop -m immediate` (SIGQUIT to the postmaster: every backend dies at once, no checkpoint,
 * crash recovery at the next start), `restart()` starts it again. Durable settings (not the tests'
 * fast mode, whose synchronous_commit=off may lose the last commits in a crash).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { startPostgresServer } from "../../src/local/PostgresServer.js"
import { isAlive } from "./processes.js"

export interface RestartablePostgres {
  readonly url: string
  readonly port: number
  crash(): Promise<void>
  restart(): Promise<void>
  stop(): Promise<void>
}

export const startRestartablePostgres = async (): Promise<RestartablePostgres> => {
  const dir = mkdtempSync(join(tmpdir(), "berth-test-pg-restart-"))
  chmodSync(dir, 0o755) // PostgreSQL runs as the postgres user when we are root
  const dataDir = join(dir, "pg")
  let scope = Effect.runSync(Scope.make())
  const first = await Effect.runPromise(Scope.extend(startPostgresServer({ dataDir }), scope))
  const start = async () => {
    scope = Effect.runSync(Scope.make())
    await Effect.runPromise(Scope.extend(startPostgresServer({ dataDir, port: first.port }), scope))
  }
  const postmasterPid = (): number => Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])
  return {
    url: first.url,
    port: first.port,
    crash: async () => {
      const pid = postmasterPid()
      process.kill(pid, "SIGQUIT")
      while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 20))
      // Its scope's `pg_ctl stop` now finds nothing to stop; close it so the restart owns the dir.
      await Effect.runPromise(Scope.close(scope, Exit.void)).catch(() => undefined)
    },
    restart: start,
    stop: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void)).catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
