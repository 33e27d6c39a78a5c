/**
 * One OS process running an instance, whether krane-local spawned it (SpawnedProcess) or adopted it
 * after a restart (AdoptedProcess): how to wait for its end and how to stop it (SIGTERM to its
 * process group, SIGKILL after a grace period). Restarting and health belong to LocalInstance.
 */
import { Duration, Effect, Option } from "effect"

export interface InstanceProcess {
  readonly pid: number | undefined
  readonly port: number
  /** ISO time the process was started. */
  readonly startedAt: string
  /** True once the process is gone (or never started). */
  readonly hasExited: () => boolean
  /** Waits for the process to end; answers how it ended. Interruptible. */
  readonly awaitExit: Effect.Effect<string>
  /** SIGTERM, then SIGKILL after graceMs; done once the process has exited. Idempotent. */
  readonly stop: (graceMs: number) => Effect.Effect<void>
  /** After an unasked exit: SIGKILL whatever the process left running in its group (it may hold the port). */
  readonly killLeftovers: () => void
}

/** Each child leads its own process group, so a stop reaches whatever it spawned (npm -> sh -> node) and Ctrl-C on our terminal reaches only us. */
export const PROCESS_GROUPS = process.platform !== "win32"
const KILL_WAIT = Duration.seconds(5)

/** Signals the process group led by `pid` (the process alone without groups); false when nothing was there. */
export const signalGroup = (pid: number, signal: NodeJS.Signals): boolean => {
  for (const target of PROCESS_GROUPS ? [-pid, pid] : [pid]) {
    try {
      process.kill(target, signal)
      return true
    } catch {
      // ESRCH (already gone) or EPERM: try the next target.
    }
  }
  return false
}

/**
 * SIGKILLs what is left of the group `pid` led, once the leader is gone. Only the group: the pid
 * itself may already belong to someone else, but a pid is not reused while its group still exists.
 */
export const killGroupRemains = (pid: number): void => {
  if (!PROCESS_GROUPS) return
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // ESRCH: nothing left.
  }
}

/** The shared SIGTERM-grace-SIGKILL stop; `signal` sends to the process (group) while it is still ours. */
export const gracefulStop =
  (label: string, target: Pick<InstanceProcess, "pid" | "hasExited" | "awaitExit">, signal: (sig: NodeJS.Signals) => void) =>
  (graceMs: number): Effect.Effect<void> =>
    Effect.gen(function* () {
      if (target.hasExited()) return
      signal("SIGTERM")
      // `interruptible`: a timeout works by interrupting the wait, and a caller in an uninterruptible
      // region (a scope's release) would otherwise make the wait outlast the grace period.
      const awaitExit = Effect.interruptible(target.awaitExit)
      const gone = yield* awaitExit.pipe(Effect.timeoutOption(Duration.millis(graceMs)))
      if (Option.isSome(gone)) return
      yield* Effect.logWarning(`${label} did not exit within ${graceMs} ms of SIGTERM; sending SIGKILL`)
      signal("SIGKILL")
      const killed = yield* awaitExit.pipe(Effect.timeoutOption(KILL_WAIT))
      if (Option.isNone(killed)) yield* Effect.logError(`${label} (pid ${target.pid ?? "?"}) is still running after SIGKILL`)
    })
