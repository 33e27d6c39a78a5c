/**
 * Our own PostgreSQL cluster as a scoped resource: initdb on first use, `pg_ctl start` on a given
 * or free 127.0.0.1 port (unix socket in a private temp dir), database `berth` created, and
 * `pg_ctl stop -m fast` when the scope closes. As root every PostgreSQL command runs as the
 * `postgres` OS user (runuser), and the dirs it needs are handed to that user.
 * Server log: `dataDir/postgres.log`.
 *
 * Authentication: TCP connections need the `postgres` role's password (scram-sha-256), generated
 * once into an owner-only file beside the cluster (`postgres.password`) and set on every start, so
 * a cluster made by an older release (trust auth) is brought up to it. The unix socket, in a private
 * 0700 directory only the server's OS user (and root) can enter, stays trust: that is how the
 * password is set.
 */
import { spawn } from "node:child_process"
import { chownSync, writeFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, unlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { Data, Effect, Redacted, Schedule, type Scope } from "effect"
import postgres from "postgres"
import { type BinaryNotFound, choosePort, fileSize, findPostgres, type PostgresBinaries, tailFile } from "./binaries.js"
import { isRoot, lookupOsUser, makeTraversable, type OsUser } from "./osUser.js"
import { readOrCreateSecretFile } from "./secretFile.js"

/**
 * Written on every start (PostgreSQL reads it at start): the socket (private dir) trusts the server's
 * OS user, every TCP connection needs a password.
 */
const PG_HBA = `# Written by Berth on every start (src/local/PostgresServer.ts); edits are lost.
# The unix socket lives in a private 0700 directory: only the server's OS user (and root) reach it.
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
host  all all ::1/128      scram-sha-256
`

/** Sets the role's password over the unix socket (the one connection that needs none). */
const setPassword = (socketDir: string, port: number, password: Redacted.Redacted<string>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => postgres({ host: socketDir, port, user: "postgres", database: "postgres", max: 1, onnotice: () => {}, connect_timeout: 5 })),
    (sql) =>
      Effect.tryPromise({
        // A literal, not a parameter: ALTER ROLE takes none. base64url holds no quote, escaped anyway.
        try: () => sql.unsafe(`alter role postgres with password '${Redacted.value(password).replaceAll("'", "''")}'`),
        catch: (e) => new PostgresServerError({ message: `set the postgres password: ${String(e)}` })
      }),
    (sql) => Effect.promise(() => sql.end({ timeout: 5 }))
  )

export interface PostgresServerOptions {
  /** The cluster directory (initdb'd when it holds no PG_VERSION). */
  readonly dataDir: string
  /** Preferred port; a free one is chosen when absent or taken. */
  readonly port?: number
  /** Tests only: fsync, synchronous_commit and full_page_writes off. */
  readonly fast?: boolean
  /** Database to create when absent; default "berth". */
  readonly database?: string
  /** The `postgres` role's password, generated when missing (0600); default `<parent of dataDir>/postgres.password`. */
  readonly passwordFile?: string
}

export interface PostgresServerInfo {
  /** postgres://postgres:<password>@127.0.0.1:<port>/<database>: print it with redactUrl. */
  readonly url: string
  /** Same server, database `postgres`: for CREATE DATABASE and friends. */
  readonly adminUrl: string
  readonly port: number
  readonly logFile: string
}

export class PostgresServerError extends Data.TaggedError("PostgresServerError")<{ readonly message: string }> {}

const errorCode = (e: unknown): unknown => (typeof e === "object" && e !== null && "code" in e ? e.code : undefined)

const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

/** Run a command (as the postgres OS user when we are root, unless asSelf); resolves with exit code and output. */
const run = (cmd: string, args: ReadonlyArray<string>, asSelf = false) =>
  Effect.async<{ readonly code: number; readonly output: string }>((resume) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PG")))
    const [bin, argv] = asSelf || !isRoot()
      ? [cmd, args]
      : existsSync("/usr/sbin/runuser") || existsSync("/sbin/runuser")
      ? ["runuser", ["-u", "postgres", "--", cmd, ...args]]
      : ["su", ["postgres", "-s", "/bin/sh", "-c", [cmd, ...args].map(quote).join(" ")]]
    const child = spawn(bin, argv, { cwd: "/", env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d: Buffer) => (output += d.toString()))
    child.stderr.on("data", (d: Buffer) => (output += d.toString()))
    child.once("error", (e) => resume(Effect.succeed({ code: -1, output: `${output}${e.message}` })))
    child.once("close", (code) => resume(Effect.succeed({ code: code ?? -1, output: output.trim() })))
  })

const fsStep = <A>(what: string, f: () => A) =>
  Effect.try({ try: f, catch: (e) => new PostgresServerError({ message: `${what}: ${String(e)}` }) })

/** As root: give `dir` to the postgres user and make every ancestor traversable (o+x). */
const handOver = (dir: string, user: OsUser) =>
  Effect.gen(function*() {
    yield* fsStep(`chown ${dir}`, () => chownSync(dir, user.uid, user.gid))
    yield* makeTraversable(dirname(dir), user).pipe(Effect.mapError((e) => new PostgresServerError({ message: e.message })))
  })

/** A postmaster.pid left by a killed run: stop our orphaned server, or drop a stale file. */
const clearStalePid = (bins: PostgresBinaries, dataDir: string) =>
  Effect.gen(function*() {
    const pidFile = join(dataDir, "postmaster.pid")
    if (!existsSync(pidFile)) return
    const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0])
    const alive = Number.isInteger(pid) && pid > 0 && (() => {
      try {
        process.kill(pid, 0)
        return true
      } catch (e) {
        return errorCode(e) === "EPERM"
      }
    })()
    let ours = alive
    try {
      if (alive) ours = realpathSync(readlinkSync(`/proc/${pid}/cwd`)) === realpathSync(dataDir) // postmaster chdirs to its data dir
    } catch {
      // no /proc: trust pg_ctl
    }
    if (ours) {
      yield* Effect.logWarning(`stopping PostgreSQL (pid ${pid}) left running on ${dataDir}`)
      yield* run(bins.pgCtl, ["stop", "-D", dataDir, "-m", "fast", "-w"])
    } else {
      yield* Effect.logWarning(`removing stale ${pidFile} (pid ${pid} is gone)`)
      yield* fsStep(`rm ${pidFile}`, () => unlinkSync(pidFile))
    }
  })

/** CREATE DATABASE `name` on the server at `adminUrl` unless it exists. */
export const ensureDatabase = (adminUrl: string, name: string): Effect.Effect<void, PostgresServerError> =>
  Effect.acquireUseRelease(
    Effect.sync(() => postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })),
    (sql) =>
      Effect.tryPromise({
        try: async () => {
          const rows = await sql`select 1 from pg_database where datname = ${name}`
          if (rows.length === 0) await sql`create database ${sql(name)}`
        },
        catch: (e) => e
      }).pipe(
        // 42P04 duplicate_database: someone else created it concurrently.
        Effect.catchIf((e) => errorCode(e) === "42P04", () => Effect.void),
        Effect.mapError((e) => new PostgresServerError({ message: `create database ${name}: ${String(e)}` }))
      ),
    (sql) => Effect.promise(() => sql.end({ timeout: 5 }))
  )

const pgCtlStart = (bins: PostgresBinaries, opts: PostgresServerOptions, dataDir: string, socketDir: string, port: number) =>
  Effect.gen(function*() {
    const logFile = join(dataDir, "postgres.log")
    const serverOpts = [`-p ${port}`, `-k ${quote(socketDir)}`, "-c listen_addresses=127.0.0.1", "-c password_encryption=scram-sha-256"]
    if (opts.fast === true) serverOpts.push("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    const logFrom = fileSize(logFile)
    const { code, output } = yield* run(bins.pgCtl, ["-D", dataDir, "-l", logFile, "-o", serverOpts.join(" "), "-w", "-t", "60", "start"])
    if (code !== 0) {
      yield* run(bins.pgCtl, ["stop", "-D", dataDir, "-m", "immediate"]) // in case it half started
      const tail = tailFile(logFile, logFrom)
      return yield* new PostgresServerError({
        message: `pg_ctl start on port ${port} failed (${code}): ${output}${tail === "" ? "" : `\nlog tail:\n${tail}`}`
      })
    }
    return port
  })

/** Start PostgreSQL for the life of the enclosing scope. */
export const startPostgresServer = (
  opts: PostgresServerOptions
): Effect.Effect<PostgresServerInfo, PostgresServerError | BinaryNotFound, Scope.Scope> =>
  Effect.gen(function*() {
    const bins = yield* findPostgres
    const started = Date.now()
    const dataDir = resolve(opts.dataDir)
    const database = opts.database ?? "berth"
    const user = isRoot() ? lookupOsUser("postgres") : undefined
    if (isRoot() && user === undefined) {
      return yield* new PostgresServerError({ message: "running as root but there is no `postgres` OS user to run PostgreSQL as" })
    }
    yield* fsStep(`mkdir ${dataDir}`, () => mkdirSync(dataDir, { recursive: true }))
    const passwordFile = opts.passwordFile ?? join(dirname(dataDir), "postgres.password")
    const password = Redacted.make(
      yield* readOrCreateSecretFile(passwordFile).pipe(Effect.mapError((e) => new PostgresServerError({ message: e.message })))
    )
    const socketDir = yield* Effect.acquireRelease(
      fsStep("mkdtemp", () => mkdtempSync(join(tmpdir(), "berth-pgsock-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    if (user !== undefined) {
      yield* handOver(dataDir, user)
      yield* handOver(socketDir, user)
    }

    if (!existsSync(join(dataDir, "PG_VERSION"))) {
      if (readdirSync(dataDir).length > 0) {
        return yield* new PostgresServerError({ message: `${dataDir} is not empty and holds no PostgreSQL cluster` })
      }
      const init = yield* run(bins.initdb, [
        "-D", dataDir, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"
      ])
      if (init.code !== 0) return yield* new PostgresServerError({ message: `initdb failed (${init.code}): ${init.output}` })
      yield* Effect.log(`initdb ${dataDir} done in ${Date.now() - started} ms`)
    } else if (user !== undefined && statSync(join(dataDir, "PG_VERSION")).uid !== user.uid) {
      const chown = yield* run("chown", ["-R", `${user.uid}:${user.gid}`, dataDir], true)
      if (chown.code !== 0) return yield* new PostgresServerError({ message: `chown -R ${dataDir}: ${chown.output}` })
    }
    yield* clearStalePid(bins, dataDir)
    // Overwrites the file's content only: it stays the postgres user's when we are root.
    yield* fsStep("write pg_hba.conf", () => writeFileSync(join(dataDir, "pg_hba.conf"), PG_HBA))

    // The free-port probe can race another process; retry on a fresh port a couple of times.
    const attempt = (n: number): Effect.Effect<number, PostgresServerError> =>
      choosePort(n === 0 ? opts.port : undefined, "PostgreSQL").pipe(
        Effect.flatMap((port) => pgCtlStart(bins, opts, dataDir, socketDir, port)),
        Effect.catchIf((e) => n < 2 && /address already in use/i.test(e.message), () => attempt(n + 1))
      )
    const port = yield* Effect.acquireRelease(attempt(0), (port) =>
      run(bins.pgCtl, ["stop", "-D", dataDir, "-m", "fast", "-w"]).pipe(
        Effect.flatMap(({ code, output }) =>
          code === 0 ? Effect.log(`PostgreSQL on ${port} stopped`) : Effect.logWarning(`pg_ctl stop: ${output}`)
        )
      ))

    yield* setPassword(socketDir, port, password).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 20 }))
    const base = `postgres://postgres:${encodeURIComponent(Redacted.value(password))}@127.0.0.1:${port}`
    yield* ensureDatabase(`${base}/postgres`, database).pipe(
      Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 20 })
    )
    yield* Effect.log(`PostgreSQL ready on 127.0.0.1:${port} in ${Date.now() - started} ms (data ${dataDir})`)
    return { url: `${base}/${database}`, adminUrl: `${base}/postgres`, port, logFile: join(dataDir, "postgres.log") }
  })
