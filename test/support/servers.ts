/**
 * Test helpers over src/local: throwaway nats-server and PostgreSQL instances (fresh temp data
 * dirs, removed on stop) and `freshDatabase()`, an empty database on the run-wide PostgreSQL
 * that test/support/globalSetup.ts provides as `pgAdminUrl`.
 */
import { randomBytes } from "node:crypto"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Scope } from "effect"
import type { NatsClientAuth } from "../../src/nats/natsAuth.js"
import type { NatsUser } from "../../src/nats/permissions.js"
import { startNatsServer } from "../../src/local/NatsServer.js"
import { mappingConfig } from "../../src/partitions/partitioning.js"
import { prepareNatsUsers } from "../../src/local/natsUsers.js"
import { ensureDatabase, startPostgresServer } from "../../src/local/PostgresServer.js"

export interface TestNats {
  readonly url: string
  readonly port: number
  readonly pid: number
  stop(): Promise<void>
}

export interface TestPostgres {
  /** The `berth` database. */
  readonly url: string
  /** The `postgres` database, for admin work. */
  readonly adminUrl: string
  readonly port: number
  /** Create an empty database (random name unless given) and return its URL. */
  createDatabase(name?: string): Promise<string>
  stop(): Promise<void>
}

/** Run a scoped start effect in a scope of our own; stop() closes it and removes the temp dir. */
const startInScope = async <A, E>(
  prefix: string,
  start: (dir: string) => Effect.Effect<A, E, Scope.Scope>
): Promise<{ readonly value: A; stop(): Promise<void> }> => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755) // PostgreSQL runs as the postgres user when we are root
  const scope = Effect.runSync(Scope.make())
  const stop = async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const value = await Effect.runPromise(Scope.extend(start(dir), scope))
    return { value, stop }
  } catch (e) {
    await stop()
    throw e
  }
}

/** The project's nats.conf (JetStream, 8MB payloads), so tests see production limits. */
export const projectNatsConf: string = fileURLToPath(new URL("../../nats.conf", import.meta.url))

/**
 * A throwaway nats-server without authentication (most tests), or with one `token` every client must
 * give (the settings of an external server with token auth).
 */
export const startTestNats = async (
  opts: { readonly configPath?: string; readonly token?: string; readonly partitions?: number } = {}
): Promise<TestNats> => {
  const given = opts.configPath ?? projectNatsConf
  const { value, stop } = await startInScope("berth-test-nats-", (dir) => {
    // With `partitions`: the mapping that partitions commands (src/partitions/), as a platform team adds it.
    const base = opts.partitions === undefined ? given : join(dir, "nats-partitioned.conf")
    if (opts.partitions !== undefined) writeFileSync(base, `${readFileSync(given, "utf8")}\n${mappingConfig(opts.partitions)}`)
    if (opts.token === undefined) return startNatsServer({ dataDir: join(dir, "nats"), configPath: base })
    const configPath = join(dir, "nats-token.conf")
    writeFileSync(configPath, `${readFileSync(base, "utf8")}\nauthorization: ${JSON.stringify({ token: opts.token })}\n`, { mode: 0o600 })
    return startNatsServer({ dataDir: join(dir, "nats"), configPath, client: { auth: { _tag: "Token", token: opts.token } } })
  })
  return { url: value.url, port: value.port, pid: value.pid, stop }
}

export interface TestNatsWithUsers extends TestNats {
  /** Each of Berth's NATS users' connection settings (user, generated password, inbox prefix). */
  readonly clients: Readonly<Record<NatsUser, NatsClientAuth>>
  /** The server's log (permission violations are logged there). */
  readonly logFile: string
  /** Where the `<user>.password` files are (a BERTH_NATS_USERS_DIR). */
  readonly natsDir: string
}

/**
 * A throwaway nats-server configured exactly as `npm start` configures Berth's own (src/local/natsUsers.ts);
 * with `partitions`, plus the mapping that partitions commands.
 */
export const startTestNatsWithUsers = async (opts: { readonly partitions?: number } = {}): Promise<TestNatsWithUsers> => {
  const { value, stop } = await startInScope("berth-test-nats-users-", (dir) =>
    Effect.gen(function* () {
      const natsDir = join(dir, "nats")
      const base = opts.partitions === undefined ? projectNatsConf : join(dir, "nats-partitioned.conf")
      if (opts.partitions !== undefined) writeFileSync(base, `${readFileSync(projectNatsConf, "utf8")}\n${mappingConfig(opts.partitions)}`)
      const users = yield* prepareNatsUsers(natsDir, base)
      const server = yield* startNatsServer({ dataDir: natsDir, configPath: users.configPath, client: users.clients.orchestrator })
      return { server, clients: users.clients, natsDir }
    })
  )
  return { url: value.server.url, port: value.server.port, pid: value.server.pid, clients: value.clients, logFile: value.server.logFile, natsDir: value.natsDir, stop }
}

const randomDbName = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`

/** Create database `name` (or a random one) on the server at adminUrl; returns its URL. */
export const createDatabaseOn = async (adminUrl: string, name: string = randomDbName("t")): Promise<string> => {
  await Effect.runPromise(ensureDatabase(adminUrl, name))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

export const startTestPostgres = async (): Promise<TestPostgres> => {
  const { value, stop } = await startInScope("berth-test-pg-", (dir) => startPostgresServer({ dataDir: join(dir, "pg"), fast: true }))
  return {
    url: value.url,
    adminUrl: value.adminUrl,
    port: value.port,
    createDatabase: (name) => createDatabaseOn(value.adminUrl, name),
    stop
  }
}

/** An empty database on the run-wide PostgreSQL (needs test/support/globalSetup.ts in the project). */
export const freshDatabase = async (prefix = "t"): Promise<string> => {
  // Imported lazily: globalSetup imports this module, and "vitest" must not load there.
  const { inject } = await import("vitest")
  const adminUrl = inject("pgAdminUrl")
  if (typeof adminUrl !== "string") {
    throw new Error("pgAdminUrl not provided: add globalSetup: [\"test/support/globalSetup.ts\"] to this vitest project")
  }
  return createDatabaseOn(adminUrl, randomDbName(prefix))
}
