/**
 * Runs each role as its own child process and keeps it running: a role that exits (crash, kill -9,
 * a library throwing outside Effect) is restarted with exponential backoff, so it never takes another
 * role down. Each line a child prints is prefixed with its name. Closing the scope stops the children
 * (SIGTERM, then SIGKILL after a grace period), last started first.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { Data, Deferred, Duration, Effect, Fiber, type Scope } from "effect"
import { configurationExitCode, type RoleReady, type SupervisedRole } from "./roles.js"

export interface ChildSpec {
  readonly name: SupervisedRole
  /** Arguments to `node` (the script and its arguments). */
  readonly args: ReadonlyArray<string>
  /** Extra arguments for the first start only (e.g. --rebuild-read-model). */
  readonly firstStartArgs?: ReadonlyArray<string>
  readonly env: NodeJS.ProcessEnv
  readonly cwd: string
  /** A child without the IPC ready message is ready when it prints a line matching this. */
  readonly readyLine?: RegExp
}

export class ChildFailed extends Data.TaggedError("ChildFailed")<{ readonly name: string; readonly reason: string }> {
  override get message(): string {
    return `${this.name} ${this.reason}`
  }
}

export interface SupervisedChild {
  readonly name: SupervisedRole
  /** Completes when the first run is ready (with what it reported); fails when it cannot start at all. */
  readonly ready: Effect.Effect<RoleReady | undefined, ChildFailed>
  readonly pid: () => number | undefined
  readonly restarts: () => number
}

export interface RestartPolicy {
  readonly initialDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  /** A run that lasted this long resets the delay. */
  readonly resetAfter: Duration.Duration
  /** How long a stopping child may take before SIGKILL. */
  readonly stopGrace: Duration.Duration
}

export const defaultRestartPolicy: RestartPolicy = {
  initialDelay: Duration.millis(500),
  // Short enough that a role is back within seconds once what it waited for (a server) returns.
  maxDelay: Duration.seconds(10),
  resetAfter: Duration.seconds(60),
  stopGrace: Duration.seconds(10)
}

const prefixLines = (name: string, stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream, onLine: (line: string) => void) => {
  if (stream === null) return
  const label = `${name.padEnd(12)} | `
  createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
    onLine(line)
    out.write(`${label}${line}\n`)
  })
}

const isReadyMessage = (message: unknown): message is RoleReady =>
  typeof message === "object" && message !== null && "type" in message && message.type === "ready"

/**
 * Children supervised together: once the group stops, none of them is restarted, whichever stops
 * first (a child may exit on its own when Berth is shutting down).
 */
export interface SupervisionGroup {
  readonly stopping: () => boolean
  /** Call first when shutting down (a finalizer added after every child's). */
  readonly stop: Effect.Effect<void>
}

export const supervisionGroup: Effect.Effect<SupervisionGroup> = Effect.sync(() => {
  let stopping = false
  return { stopping: () => stopping, stop: Effect.sync(() => void (stopping = true)) }
})

/** Starts `spec` now and supervises it for the life of the scope. */
export const supervise = (
  spec: ChildSpec,
  group: SupervisionGroup,
  policy: RestartPolicy = defaultRestartPolicy
): Effect.Effect<SupervisedChild, never, Scope.Scope> =>
  Effect.gen(function* () {
    const firstReady = yield* Deferred.make<RoleReady | undefined, ChildFailed>()
    let current: ChildProcess | undefined
    let restarts = 0
    let stopped = false
    const stopping = () => stopped || group.stopping()

    /** One run: spawn, wait for its exit; resolves with how it ended. */
    const runOnce = (first: boolean) =>
      Effect.async<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly ranMs: number }>((resume) => {
        const started = Date.now()
        const args = [...spec.args, ...(first ? spec.firstStartArgs ?? [] : [])]
        const child = spawn(process.execPath, args, { cwd: spec.cwd, env: spec.env, stdio: ["ignore", "pipe", "pipe", "ipc"] })
        current = child
        const markReady = (ready: RoleReady | undefined) => Deferred.unsafeDone(firstReady, Effect.succeed(ready))
        const watchLine = (line: string) => {
          if (spec.readyLine?.test(line) === true) markReady(undefined)
        }
        prefixLines(spec.name, child.stdout, process.stdout, watchLine)
        prefixLines(spec.name, child.stderr, process.stderr, watchLine)
        child.on("message", (message) => {
          if (isReadyMessage(message)) markReady(message)
        })
        child.once("error", (error) => resume(Effect.succeed({ code: -1, signal: null, ranMs: Date.now() - started, error })))
        child.once("exit", (code, signal) => resume(Effect.succeed({ code, signal, ranMs: Date.now() - started })))
      })

    const loop = Effect.gen(function* () {
      let delay = policy.initialDelay
      for (let first = true; ; first = false) {
        const ended = yield* runOnce(first)
        if (stopping()) return
        const how = ended.signal !== null ? `was killed (${ended.signal})` : `exited with code ${ended.code}`
        if (ended.code === configurationExitCode) {
          yield* Deferred.fail(firstReady, new ChildFailed({ name: spec.name, reason: "cannot start: configuration error (see above)" }))
          return yield* Effect.logError(`${spec.name} ${how}: configuration error; not restarting it`)
        }
        if (ended.ranMs >= Duration.toMillis(policy.resetAfter)) delay = policy.initialDelay
        restarts++
        yield* Effect.logWarning(`${spec.name} ${how}; restarting in ${Duration.format(delay)} (restart ${restarts})`)
        yield* Effect.sleep(delay)
        delay = Duration.min(Duration.times(delay, 2), policy.maxDelay)
      }
    })
    const fiber = yield* Effect.forkScoped(loop)

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        stopped = true
        const child = current
        if (child !== undefined && child.exitCode === null && child.signalCode === null) {
          const exited = Effect.async<void>((resume) => {
            if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
            child.once("exit", () => resume(Effect.void))
          })
          child.kill("SIGTERM")
          // Finalizers run uninterruptibly: the wait must be interruptible for its timeout to fire.
          yield* Effect.interruptible(exited).pipe(
            Effect.timeout(policy.stopGrace),
            Effect.catchAll(() => Effect.sync(() => child.kill("SIGKILL")).pipe(Effect.andThen(exited)))
          )
        }
        yield* Fiber.interrupt(fiber)
      })
    )

    return {
      name: spec.name,
      ready: Deferred.await(firstReady),
      pid: () => current?.pid,
      restarts: () => restarts
    }
  })
