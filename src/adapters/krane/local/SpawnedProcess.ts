/**
 * Spawns an instance's process: the deployment's command on its port (PORT), with the deployment's
 * env and the ownership marker and nothing of krane-local's own environment (which, under Berth,
 * holds DATABASE_URL, NATS_URL, KRANE_* and BERTH_* settings), leading its own process group (detached, so it outlives a crashed
 * krane-local and can be adopted), its output appended to the instance's log file.
 */
import { spawn } from "node:child_process"
import { closeSync, openSync, writeSync } from "node:fs"
import { dirname } from "node:path"
import { Deferred, Exit, FiberId } from "effect"
import { PROCESS_GROUPS, gracefulStop, killGroupRemains, signalGroup, type InstanceProcess } from "./InstanceProcess.js"
import { MARKER_VAR } from "./ProcTable.js"

export interface SpawnSpec {
  /** `<deploymentId>-<n>` */
  readonly id: string
  readonly command: readonly [string, ...Array<string>]
  readonly env: Readonly<Record<string, string>>
  readonly port: number
  /** The instance's own working directory (also its HOME). */
  readonly cwd: string
  /** Run as this user (krane-local runs as root); undefined: as krane-local's own user. */
  readonly user: { readonly uid: number; readonly gid: number } | undefined
  readonly logFile: string
  /** Value of LOCAL_INSTANCE_MARKER: proves the process ours when krane-local restarts. */
  readonly marker: string
  /** How many times this instance was restarted before; noted in the log file. */
  readonly restarts: number
}

/** Where an instance finds programs: node's own directory first (so `node` works wherever node is installed), then the system's. */
const INSTANCE_PATH = [dirname(process.execPath), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":")

/**
 * An instance's whole environment: a PATH and HOME to run with, the deployment's env (which may
 * override them), then PORT and the marker, which it may not. Never inherited from krane-local.
 */
export const instanceEnvironment = (spec: Pick<SpawnSpec, "env" | "port" | "cwd" | "marker">): Record<string, string> => ({
  PATH: INSTANCE_PATH,
  HOME: spec.cwd,
  ...spec.env,
  PORT: String(spec.port),
  [MARKER_VAR]: spec.marker
})

/** Starts the process. Throws when it cannot even be attempted (log file unwritable); a failed spawn (ENOENT) shows up as an exit. */
export const spawnProcess = (spec: SpawnSpec): InstanceProcess => {
  const exited = Deferred.unsafeMake<string>(FiberId.none)
  let exitedWith: string | undefined
  const ended = (how: string) => {
    exitedWith ??= how
    Deferred.unsafeDone(exited, Exit.succeed(exitedWith))
  }

  const [file, ...args] = spec.command
  // Owner-only: an app's output may hold what its env held.
  const fd = openSync(spec.logFile, "a", 0o600)
  try {
    const restart = spec.restarts > 0 ? ` (restart #${spec.restarts})` : ""
    writeSync(fd, `--- ${new Date().toISOString()} ${spec.id} on port ${spec.port}${restart}: ${spec.command.join(" ")}\n`)
    const child = spawn(file, args, {
      cwd: spec.cwd,
      env: instanceEnvironment(spec),
      // Node drops root's supplementary groups along with setting these.
      ...(spec.user === undefined ? {} : { uid: spec.user.uid, gid: spec.user.gid }),
      stdio: ["ignore", fd, fd],
      detached: PROCESS_GROUPS
    })
    // `on`, not `once`: an unheard second "error" event would crash krane-local.
    child.on("error", (error) => ended(`could not start: ${error.message}`))
    child.once("exit", (code, signal) => ended(signal === null ? `exit code ${code ?? "?"}` : `signal ${signal}`))

    const pid = child.pid
    const signal = (sig: NodeJS.Signals): void => {
      if (pid !== undefined && exitedWith === undefined) signalGroup(pid, sig)
    }
    const hasExited = () => exitedWith !== undefined
    const awaitExit = Deferred.await(exited)
    return {
      pid,
      port: spec.port,
      startedAt: new Date().toISOString(),
      hasExited,
      awaitExit,
      stop: gracefulStop(spec.id, { pid, hasExited, awaitExit }, signal),
      killLeftovers: () => {
        if (pid !== undefined) killGroupRemains(pid)
      }
    }
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd)
  }
}
