/**
 * Our own nats-server (JetStream on, bound to 127.0.0.1) as a scoped resource: spawned on a
 * given or free port with its store in `dataDir`, ready once JetStream answers, stopped
 * (SIGTERM, then SIGKILL after 5 s) when the scope closes. Output goes to `dataDir/nats-server.log`;
 * `dataDir/nats-server.pid` lets the next start stop a server orphaned by a killed parent.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs"
import { connect as netConnect } from "node:net"
import { join, resolve } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { type ConnectionOptions, connect } from "@nats-io/transport-node"
import { Data, Duration, Effect, Schedule, type Scope } from "effect"
import { anonymous, connectionAuth, type NatsClientAuth } from "../nats/natsAuth.js"
import { type BinaryNotFound, choosePort, fileSize, findNatsServer, tailFile } from "./binaries.js"

export interface NatsServerOptions {
  readonly dataDir: string
  /** Preferred port; a free one is chosen when absent or taken. */
  readonly port?: number
  /** Config file passed with -c (e.g. the project's nats.conf); flags still win over it. */
  readonly configPath?: string
  readonly startTimeout?: Duration.DurationInput
  /** Who the readiness check connects as, when the config has users (src/local/natsUsers.ts). */
  readonly client?: NatsClientAuth
}

export interface NatsServerInfo {
  readonly url: string
  readonly port: number
  readonly pid: number
  readonly logFile: string
}

export class NatsServerError extends Data.TaggedError("NatsServerError")<{ readonly message: string }> {}

class NotReady extends Data.TaggedError("NotReady")<{ readonly reason: string }> {}

interface Proc {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  /** Why the process ended, or undefined while it runs. */
  readonly exitStatus: () => string | undefined
}

const spawnLogged = (bin: string, args: ReadonlyArray<string>, logFile: string): Proc => {
  const fd = openSync(logFile, "a")
  try {
    const child = spawn(bin, args, { stdio: ["ignore", fd, fd] })
    let status: string | undefined
    const exited = new Promise<void>((done) => {
      child.once("error", (e) => {
        status ??= `failed to spawn: ${e.message}`
        done()
      })
      child.once("exit", (code, signal) => {
        status ??= signal === null ? `exit code ${code}` : `signal ${signal}`
        done()
      })
    })
    return { child, exited, exitStatus: () => status }
  } finally {
    closeSync(fd)
  }
}

/** SIGTERM, wait up to 5 s, then SIGKILL. Idempotent. */
const stopProcess = (proc: Proc, what: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (proc.exitStatus() !== undefined) return
    proc.child.kill("SIGTERM")
    const done = yield* Effect.promise(() => proc.exited).pipe(Effect.timeoutOption("5 seconds"))
    if (done._tag === "None") {
      yield* Effect.logWarning(`${what} did not exit after SIGTERM; sending SIGKILL`)
      proc.child.kill("SIGKILL")
      yield* Effect.promise(() => proc.exited)
    }
  })

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A nats-server left running on this store dir by a killed parent would share the store: stop it. */
const stopOrphan = (dataDir: string, pidFile: string) =>
  Effect.gen(function*() {
    if (!existsSync(pidFile)) return
    const pid = Number(readFileSync(pidFile, "utf8").trim())
    let cmdline = ""
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ")
    } catch {
      // gone, or no /proc
    }
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && cmdline.includes("nats-server") && cmdline.includes(dataDir)) {
      yield* Effect.logWarning(`stopping nats-server (pid ${pid}) left running on ${dataDir}`)
      process.kill(pid, "SIGTERM")
      const gone = yield* Effect.sync(() => !isAlive(pid)).pipe(
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (dead) => dead }),
        Effect.timeoutOption("5 seconds")
      )
      if (gone._tag === "None" && isAlive(pid)) process.kill(pid, "SIGKILL")
    }
    rmSync(pidFile, { force: true })
  })

const tcpReachable = (port: number) =>
  Effect.async<void, NotReady>((resume) => {
    const sock = netConnect({ host: "127.0.0.1", port })
    sock.once("connect", () => {
      sock.destroy()
      resume(Effect.void)
    })
    sock.once("error", (e) => {
      sock.destroy()
      resume(Effect.fail(new NotReady({ reason: e.message })))
    })
  })

const jetStreamAnswers = (url: string, auth: Partial<ConnectionOptions>) =>
  Effect.tryPromise({
    try: async () => {
      const nc = await connect({ ...auth, servers: url, reconnect: false, timeout: 2_000 })
      try {
        await jetstreamManager(nc)
      } finally {
        await nc.close()
      }
    },
    catch: (e) => new NotReady({ reason: e instanceof Error ? e.message : String(e) })
  })

const startOnce = (bin: string, opts: NatsServerOptions, port: number) =>
  Effect.gen(function*() {
    const dataDir = resolve(opts.dataDir)
    const logFile = join(dataDir, "nats-server.log")
    const pidFile = join(dataDir, "nats-server.pid")
    const url = `nats://127.0.0.1:${port}`
    const auth = yield* connectionAuth(opts.client ?? anonymous).pipe(
      Effect.mapError((error) => new NatsServerError({ message: `nats-server readiness check: ${error.message}` }))
    )
    const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dataDir, "-P", pidFile]
    if (opts.configPath !== undefined) args.push("-c", resolve(opts.configPath))
    const started = Date.now()
    const logFrom = fileSize(logFile)
    const proc = yield* Effect.acquireRelease(
      Effect.sync(() => spawnLogged(bin, args, logFile)),
      (p) =>
        p.exitStatus() === undefined
          ? stopProcess(p, "nats-server").pipe(Effect.zipRight(Effect.log(`nats-server on ${port} stopped`)))
          : Effect.void
    )
    const fail = (why: string) => {
      const tail = tailFile(logFile, logFrom)
      return new NatsServerError({ message: `nats-server on port ${port} ${why}${tail === "" ? "" : `; log tail:\n${tail}`}` })
    }
    const check = Effect.suspend((): Effect.Effect<void, NotReady | NatsServerError> =>
      proc.exitStatus() !== undefined
        ? Effect.fail(fail(`exited during startup (${proc.exitStatus()})`))
        : tcpReachable(port).pipe(Effect.zipRight(jetStreamAnswers(url, auth)))
    )
    yield* check.pipe(
      Effect.retry({ schedule: Schedule.spaced("50 millis"), while: (e) => e._tag === "NotReady" }),
      Effect.timeoutFail({
        duration: opts.startTimeout ?? "15 seconds",
        onTimeout: () => fail("was not ready in time")
      }),
      Effect.mapError((e) => (e._tag === "NotReady" ? fail(`not ready: ${e.reason}`) : e)),
      Effect.tapError(() => stopProcess(proc, "nats-server"))
    )
    yield* Effect.log(`nats-server ready on ${url} in ${Date.now() - started} ms (data ${dataDir})`)
    return { url, port, pid: proc.child.pid ?? -1, logFile } satisfies NatsServerInfo
  })

/** Start nats-server for the life of the enclosing scope. */
export const startNatsServer = (
  opts: NatsServerOptions
): Effect.Effect<NatsServerInfo, NatsServerError | BinaryNotFound, Scope.Scope> =>
  Effect.gen(function*() {
    const bin = yield* findNatsServer
    yield* Effect.try({
      try: () => mkdirSync(resolve(opts.dataDir), { recursive: true }),
      catch: (e) => new NatsServerError({ message: `cannot create ${opts.dataDir}: ${String(e)}` })
    })
    yield* stopOrphan(resolve(opts.dataDir), join(resolve(opts.dataDir), "nats-server.pid"))
    // The free-port probe can race another process; retry on a fresh port a couple of times.
    const attempt = (n: number): Effect.Effect<NatsServerInfo, NatsServerError, Scope.Scope> =>
      choosePort(n === 0 ? opts.port : undefined, "nats-server").pipe(
        Effect.flatMap((port) => startOnce(bin, opts, port)),
        Effect.catchIf(
          (e) => n < 2 && /address already in use/i.test(e.message),
          () => attempt(n + 1)
        )
      )
    return yield* attempt(0)
  })
