/**
 * A PostgreSQL that a test can crash and bring back on the same data dir and port: `crash()` kills the
 * postmaster with SIGKILL (harder than `pg_ctl stop -m immediate`), `restart()` starts it again.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { startPostgresServer } from "../../src/local/PostgresServer.js"

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
  const first = await Effect.runPromise(Scope.extend(startPostgresServer({ dataDir, fast: true }), scope))
  const start = async () => {
    scope = Effect.runSync(Scope.make())
    await Effect.runPromise(Scope.extend(startPostgresServer({ dataDir, fast: true, port: first.port }), scope))
  }
  const postmasterPid = (): number => Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])
  return {
    url: first.url,
    port: first.port,
    crash: async () => {
      process.kill(postmasterPid(), "SIGKILL")
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
