/**
 * One krane-local instance: a stable id (and, while it stays free, port) across the processes that
 * run it. `supervise` health-checks the current process (PENDING until it answers, RUNNING while it
 * does) and, after an exit nobody asked for, restarts it with exponential backoff (200 ms doubling
 * to 10 s; reset once it has been RUNNING for 30 s), PENDING meanwhile. A command that cannot start
 * at all (ENOENT) backs off the same way. TERMINATING once stopped for good.
 */
import { Deferred, Duration, Effect, Either, Exit, FiberId } from "effect"
import type { InstanceStatus } from "../Krane.js"
import { probeHealth } from "./HealthProbe.js"
import type { InstanceProcess } from "./InstanceProcess.js"
import { describeCause, type KraneLocalError } from "./KraneLocalError.js"

export const RESTART_BACKOFF = {
  initial: Duration.millis(200),
  max: Duration.seconds(10),
  /** Running (healthy) this long forgives earlier crashes: the next restart waits `initial` again. */
  resetAfter: Duration.seconds(30)
} as const

/** Wait before the restart following `failures` consecutive ones. */
export const restartDelay = (failures: number): Duration.Duration =>
  Duration.min(Duration.times(RESTART_BACKOFF.initial, 2 ** Math.min(failures, 30)), RESTART_BACKOFF.max)

const PROBE_UNTIL_READY = Duration.millis(200)
const PROBE_WHEN_READY = Duration.seconds(2)

export interface InstanceHooks {
  readonly healthPath: string
  /** Starts a process on `port`, `restarts` being this instance's restart count; throws when it cannot even be attempted. */
  readonly spawn: (port: number, restarts: number) => InstanceProcess
  /** The port for the next process: `current` while it is free, else a newly reserved one. */
  readonly portFor: (current: number) => Effect.Effect<number, KraneLocalError>
  /** The instance's process or port changed: time to record it. */
  readonly changed: Effect.Effect<void>
}

export interface InstanceInit {
  /** `<deploymentId>-<n>` */
  readonly id: string
  readonly logFile: string
  readonly port: number
  readonly restarts: number
  /** Its process, spawned or adopted; undefined: `supervise` starts one (on `port` when free). */
  readonly process: InstanceProcess | undefined
  readonly hooks: InstanceHooks
}

export interface LocalInstance {
  readonly id: string
  readonly port: () => number
  /** 127.0.0.1:<port> */
  readonly address: () => string
  /** The running process's pid; undefined between processes and once stopped. */
  readonly pid: () => number | undefined
  readonly startedAt: () => string | undefined
  readonly restarts: () => number
  readonly status: () => InstanceStatus
  /** Health checks and restarts until the instance is stopped; run it as a fiber. */
  readonly supervise: Effect.Effect<void>
  /** No more restarts; SIGTERM, then SIGKILL after graceMs; done once the process has exited. Idempotent. */
  readonly stop: (graceMs: number) => Effect.Effect<void>
}

export const makeLocalInstance = (init: InstanceInit): LocalInstance => {
  const { hooks } = init
  let current = init.process
  let port = init.port
  let restarts = init.restarts
  let healthy = false
  let runningSince: number | undefined
  let stopping = false
  const stopRequested = Deferred.unsafeMake<void>(FiberId.none)
  const address = () => `127.0.0.1:${port}`
  const running = () => current !== undefined && !current.hasExited()

  const watchHealth = (process: InstanceProcess): Effect.Effect<never> =>
    Effect.gen(function* () {
      if (!stopping && !process.hasExited()) {
        const verdict = yield* probeHealth(process.port, hooks.healthPath)
        if (!stopping && !process.hasExited() && verdict !== healthy) {
          healthy = verdict
          runningSince = verdict ? Date.now() : undefined
          yield* verdict
            ? Effect.logInfo(`instance is ready at ${address()}`)
            : Effect.logWarning(`instance stopped answering ${hooks.healthPath}`)
        }
      }
      yield* Effect.sleep(healthy ? PROBE_WHEN_READY : PROBE_UNTIL_READY)
    }).pipe(Effect.forever)

  /** Runs the current process until it exits; answers how it ended. */
  const watch = (process: InstanceProcess): Effect.Effect<string> =>
    Effect.raceFirst(process.awaitExit, watchHealth(process)).pipe(
      Effect.ensuring(Effect.sync(() => (healthy = false))),
      Effect.annotateLogs({ pid: String(process.pid ?? "none") })
    )

  /** Starts the next process; answers why it could not, leaving `current` undefined. */
  const respawn: Effect.Effect<string | undefined> = Effect.gen(function* () {
    current = undefined
    const chosen = yield* Effect.either(hooks.portFor(port))
    if (Either.isLeft(chosen)) return chosen.left.message
    port = chosen.right
    // Checked in the same synchronous step as the spawn: a stop either sees the process or prevents it.
    if (stopping) return undefined
    try {
      current = hooks.spawn(port, restarts)
    } catch (cause) {
      return `could not start: ${describeCause(cause)}`
    }
    yield* hooks.changed
    return undefined
  })

  const supervise: Effect.Effect<void> = Effect.gen(function* () {
    let failures = 0
    // No process yet (restored from the state file): start one straight away.
    let how = current === undefined ? yield* respawn : undefined
    for (;;) {
      if (current !== undefined) {
        const process = current
        how = yield* watch(process)
        const ranFor = runningSince === undefined ? 0 : Date.now() - runningSince
        runningSince = undefined
        if (stopping) return yield* Effect.logInfo(`instance stopped (${how})`)
        process.killLeftovers()
        yield* hooks.changed
        if (ranFor >= Duration.toMillis(RESTART_BACKOFF.resetAfter)) failures = 0
      }
      if (stopping) return
      const delay = restartDelay(failures)
      failures += 1
      restarts += 1
      yield* Effect.logWarning(
        `instance ended (${how ?? "unknown"}); restart #${restarts} in ${Duration.format(delay)}; its output is in ${init.logFile}`
      )
      yield* Effect.raceFirst(Effect.sleep(delay), Deferred.await(stopRequested))
      if (stopping) return
      how = yield* respawn
    }
  }).pipe(Effect.annotateLogs({ instance: init.id }))

  const stop = (graceMs: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      stopping = true
      Deferred.unsafeDone(stopRequested, Exit.void)
      return current === undefined ? Effect.void : current.stop(graceMs)
    })

  return {
    id: init.id,
    port: () => port,
    address,
    pid: () => (running() ? current?.pid : undefined),
    startedAt: () => (running() ? current?.startedAt : undefined),
    restarts: () => restarts,
    status: () => (stopping ? "TERMINATING" : running() && healthy ? "RUNNING" : "PENDING"),
    supervise,
    stop
  }
}
