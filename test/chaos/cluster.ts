/**
 * The system a chaos run attacks, every part of it real except Krane: a nats-server and a PostgreSQL of
 * its own (each restartable on the same store and port after being killed), Berth as `npm start` runs
 * it (supervisor + role processes), the fake Krane behind its Connect-JSON wire, and three tiny app
 * servers the fake's instances point at (so the OpenAPI scrape fetches something real).
 */
import { spawn } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Logger, LogLevel, Scope } from "effect"
import { findPostgres } from "../../src/local/binaries.js"
import { type NatsServerInfo, startNatsServer } from "../../src/local/NatsServer.js"
import { type PostgresServerInfo, startPostgresServer } from "../../src/local/PostgresServer.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { type FakeKraneHttpServer, startFakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"
import { type AppServer, startAppServer } from "../support/appServer.js"
import { type BerthProcess, freeTcpPort, startBerth } from "../support/berthProcess.js"
import { projectNatsConf } from "../support/servers.js"
import { isAlive } from "../support/processes.js"

/** Settings that keep a round short: quick polls and retries, a readiness deadline a hung Krane reaches. */
export const chaosBerthEnv: Readonly<Record<string, string>> = {
  BERTH_POLL_INTERVAL: "50 millis",
  BERTH_STEP_BACKOFF: "50 millis",
  BERTH_STEP_ATTEMPTS: "5",
  // Compensation outlasts a Krane fault (200 ms doubling, 6 attempts: ~6 s), so "delete by hand" stays rare.
  BERTH_STEP_ATTEMPTS_COMPENSATE: "6",
  BERTH_STEP_BACKOFF_COMPENSATE: "200 millis",
  BERTH_READINESS_TIMEOUT: "8 seconds",
  BERTH_SCRAPE_TIMEOUT: "2 seconds",
  BERTH_INTAKE_BACKOFF: "200 millis, 500 millis, 1 second, 2 seconds",
  // Snapshots and retirement happen within a round.
  BERTH_SNAPSHOT_EVERY: "15",
  BERTH_HOT_DEPLOYMENTS: "3"
}

const quiet = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>, scope: Scope.Scope) =>
  Effect.runPromise(Scope.extend(effect, scope).pipe(Logger.withMinimumLogLevel(LogLevel.Error)))

/** A server started in a scope of its own, so it can be killed and started again on the same store. */
class Restartable<Info> {
  private scope: Scope.CloseableScope | undefined
  info: Info

  private constructor(private readonly start: (scope: Scope.Scope) => Promise<Info>, scope: Scope.CloseableScope, info: Info) {
    this.scope = scope
    this.info = info
  }

  static async create<Info>(start: (scope: Scope.Scope) => Promise<Info>): Promise<Restartable<Info>> {
    const scope = Effect.runSync(Scope.make())
    try {
      return new Restartable(start, scope, await start(scope))
    } catch (e) {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      throw e
    }
  }

  /** Closes the scope of a server that is already down (its release then only tidies up). */
  async forget(): Promise<void> {
    const scope = this.scope
    this.scope = undefined
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void).pipe(Logger.withMinimumLogLevel(LogLevel.None)))
  }

  async restart(): Promise<void> {
    await this.forget()
    const scope = Effect.runSync(Scope.make())
    this.info = await this.start(scope)
    this.scope = scope
  }

  async stop(): Promise<void> {
    await this.forget()
  }
}

const waitUntilGone = async (pid: number, what: string): Promise<void> => {
  const deadline = Date.now() + 10_000
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`${what} (pid ${pid}) did not exit`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** pg_ctl as PostgreSQL wants it run: as the postgres OS user when we are root. */
const pgCtl = async (args: ReadonlyArray<string>): Promise<{ readonly code: number; readonly output: string }> => {
  const bins = await Effect.runPromise(findPostgres)
  const asRoot = process.getuid?.() === 0
  const [bin, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", bins.pgCtl, ...args]] : [bins.pgCtl, [...args]]
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PG")))
  return new Promise((resolve) => {
    const child = spawn(bin, argv, { cwd: "/", env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d: Buffer) => (output += d.toString()))
    child.stderr.on("data", (d: Buffer) => (output += d.toString()))
    child.once("error", (e) => resolve({ code: -1, output: e.message }))
    child.once("close", (code) => resolve({ code: code ?? -1, output: output.trim() }))
  })
}

export interface Cluster {
  readonly natsUrl: string
  readonly databaseUrl: string
  /** The PostgreSQL server's `postgres` database, for scratch databases. */
  readonly pgAdminUrl: string
  readonly krane: FakeKraneHttpServer
  readonly berth: BerthProcess
  /** kill -9 of nats-server; `restartNats` starts it again on the same store and port. */
  readonly killNats: () => Promise<void>
  readonly restartNats: () => Promise<void>
  /** `pg_ctl stop -m immediate` (a crash); `startPostgres` starts it again on the same data dir and port. */
  readonly stopPostgres: () => Promise<void>
  readonly startPostgres: () => Promise<void>
  readonly close: () => Promise<void>
}

export const startCluster = async (): Promise<Cluster> => {
  const root = mkdtempSync(join(tmpdir(), "berth-chaos-"))
  chmodSync(root, 0o755) // PostgreSQL runs as the postgres user when we are root
  const closers: Array<() => Promise<unknown>> = []
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined)
    rmSync(root, { recursive: true, force: true })
  }
  try {
    const natsDir = join(root, "nats")
    const natsPort = await freeTcpPort()
    const nats = await Restartable.create<NatsServerInfo>((scope) =>
      quiet(startNatsServer({ dataDir: natsDir, port: natsPort, configPath: projectNatsConf }), scope)
    )
    closers.push(() => nats.stop())
    const pgDir = join(root, "pg")
    const pgPort = await freeTcpPort()
    const pg = await Restartable.create<PostgresServerInfo>((scope) =>
      quiet(startPostgresServer({ dataDir: pgDir, port: pgPort, fast: true }), scope)
    )
    closers.push(() => pg.stop())

    const apps: Array<AppServer> = []
    for (let i = 0; i < 3; i++) {
      const app = await startAppServer()
      closers.push(() => app.close())
      apps.push(app)
    }
    const fake = makeFakeKrane()
    fake.setInstanceAddress((spec, replica) => {
      let h = replica
      for (const c of spec.deploymentId) h = (h * 31 + c.charCodeAt(0)) >>> 0
      return apps[h % apps.length]?.address ?? "127.0.0.1:1"
    })
    fake.setReadyAfterPolls(1)
    const krane = await startFakeKraneHttpServer({ krane: fake })
    closers.push(() => krane.close())

    const berth = await startBerth({ NATS_URL: nats.info.url, DATABASE_URL: pg.info.url, KRANE_URL: krane.url, ...chaosBerthEnv })
    closers.push(() => berth.kill("SIGKILL"))

    const samePort = (what: string, expected: number, got: number) => {
      if (got !== expected) throw new Error(`${what} came back on port ${got}, not ${expected}: Berth cannot find it`)
    }
    return {
      natsUrl: nats.info.url,
      databaseUrl: pg.info.url,
      pgAdminUrl: pg.info.adminUrl,
      krane,
      berth,
      killNats: async () => {
        const pid = nats.info.pid
        process.kill(pid, "SIGKILL")
        await waitUntilGone(pid, "nats-server")
      },
      restartNats: async () => {
        await nats.restart()
        samePort("nats-server", natsPort, nats.info.port)
      },
      stopPostgres: async () => {
        const stopped = await pgCtl(["stop", "-D", pgDir, "-m", "immediate", "-w"])
        if (stopped.code !== 0) throw new Error(`pg_ctl stop -m immediate failed: ${stopped.output}`)
      },
      startPostgres: async () => {
        // The old scope's release runs `pg_ctl stop -m fast` on a stopped server: harmless.
        await pg.restart()
        samePort("PostgreSQL", pgPort, pg.info.port)
        if (!existsSync(join(pgDir, "postmaster.pid"))) throw new Error("PostgreSQL did not come back")
      },
      close
    }
  } catch (e) {
    await close()
    throw e
  }
}
