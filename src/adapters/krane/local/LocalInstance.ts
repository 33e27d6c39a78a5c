/**
 * One krane-local instance: a child process running a deployment's command on its own port, its
 * output appended to a log file. Owns spawning, the HTTP health probe, stopping (SIGTERM to the
 * process group, SIGKILL after a grace period) and the status the instance reports.
 * Deciding when to probe, stop or (later) restart belongs to ProcessDriver.
 */
import { spawn } from "node:child_process"
import { closeSync, openSync, writeSync } from "node:fs"
import { get } from "node:http"
import { Deferred, Duration, Effect, Exit, FiberId, Option } from "effect"
import type { InstanceStatus } from "../Krane.js"

export interface InstanceSpec {
  /** `<deploymentId>-<n>` */
  readonly id: string
  readonly command: readonly [string, ...Array<string>]
  readonly env: Readonly<Record<string, string>>
  readonly port: number
  readonly cwd: string
  readonly logFile: string
}

export interface LocalInstance {
  readonly id: string
  readonly port: number
  /** 127.0.0.1:<port> */
  readonly address: string
  readonly pid: number | undefined
  readonly logFile: string
  /** Completes with how the process ended: exit code, signal, or why it could not start. */
  readonly exited: Deferred.Deferred<string>
  /** PENDING until healthy, RUNNING while healthy, TERMINATING once stopping, UNSPECIFIED after an unasked exit. */
  readonly status: () => InstanceStatus
  /** True while the process runs and nobody asked it to stop: worth health-checking. */
  readonly isLive: () => boolean
  /** Records a health verdict; answers whether it changed the instance's readiness. */
  readonly setHealthy: (healthy: boolean) => boolean
  /** SIGTERM, then SIGKILL after graceMs; done once the process has exited. Idempotent. */
  readonly stop: (graceMs: number) => Effect.Effect<void>
}

/** Each child leads its own process group, so a stop reaches whatever it spawned (npm -> sh -> node) and Ctrl-C on our terminal reaches only us. */
const PROCESS_GROUPS = process.platform !== "win32"
const KILL_WAIT = Duration.seconds(5)

/** Starts the process. Throws when it cannot even be attempted (log file unwritable); a failed spawn shows up as `exited`. */
export const spawnInstance = (spec: InstanceSpec): LocalInstance => {
  const exited = Deferred.unsafeMake<string>(FiberId.none)
  let exitedWith: string | undefined
  let stopping = false
  let healthy = false
  const ended = (how: string) => {
    exitedWith ??= how
    Deferred.unsafeDone(exited, Exit.succeed(exitedWith))
  }

  const [file, ...args] = spec.command
  const fd = openSync(spec.logFile, "a")
  try {
    writeSync(fd, `--- ${new Date().toISOString()} ${spec.id} on port ${spec.port}: ${spec.command.join(" ")}\n`)
    const child = spawn(file, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env, PORT: String(spec.port) },
      stdio: ["ignore", fd, fd],
      detached: PROCESS_GROUPS
    })
    // `on`, not `once`: an unheard second "error" event would crash krane-local.
    child.on("error", (error) => ended(`could not start: ${error.message}`))
    child.once("exit", (code, signal) => ended(signal === null ? `exit code ${code ?? "?"}` : `signal ${signal}`))

    const pid = child.pid
    const signal = (sig: NodeJS.Signals): void => {
      if (pid === undefined || exitedWith !== undefined) return
      try {
        if (PROCESS_GROUPS) process.kill(-pid, sig)
        else child.kill(sig)
      } catch {
        child.kill(sig)
      }
    }

    const awaitExit = Effect.interruptible(Deferred.await(exited))
    const stop = (graceMs: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        stopping = true
        if (exitedWith !== undefined) return
        signal("SIGTERM")
        // `interruptible`: a timeout works by interrupting the wait, and a caller in an uninterruptible
        // region (a scope's release) would otherwise make the wait outlast the grace period.
        const gone = yield* awaitExit.pipe(Effect.timeoutOption(Duration.millis(graceMs)))
        if (Option.isSome(gone)) return
        yield* Effect.logWarning(`${spec.id} did not exit within ${graceMs} ms of SIGTERM; sending SIGKILL`)
        signal("SIGKILL")
        const killed = yield* awaitExit.pipe(Effect.timeoutOption(KILL_WAIT))
        if (Option.isNone(killed)) yield* Effect.logError(`${spec.id} (pid ${pid}) is still running after SIGKILL`)
      })

    return {
      id: spec.id,
      port: spec.port,
      address: `127.0.0.1:${spec.port}`,
      pid,
      logFile: spec.logFile,
      exited,
      status: () => (stopping ? "TERMINATING" : exitedWith !== undefined ? "UNSPECIFIED" : healthy ? "RUNNING" : "PENDING"),
      isLive: () => !stopping && exitedWith === undefined,
      setHealthy: (verdict) => {
        const changed = verdict !== healthy
        healthy = verdict
        return changed
      },
      stop
    }
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd)
  }
}

/**
 * GET http://127.0.0.1:<port><path>: healthy when anything below 500 answers in time. No keep-alive
 * (agent: false, connection: close) so we never hold an idle socket that would delay the app's own
 * graceful `server.close()`.
 */
export const probeHealth = (port: number, path: string, timeoutMs = 1_000): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    let settled = false
    const settle = (healthy: boolean) => {
      if (settled) return
      settled = true
      resume(Effect.succeed(healthy))
    }
    const request = get(
      { host: "127.0.0.1", port, path, agent: false, headers: { connection: "close" }, timeout: timeoutMs },
      (response) => {
        settle((response.statusCode ?? 500) < 500)
        response.destroy()
      }
    )
    request.on("timeout", () => request.destroy(new Error("health check timed out")))
    request.on("error", () => settle(false))
    return Effect.sync(() => {
      settled = true
      request.destroy()
    })
  })
