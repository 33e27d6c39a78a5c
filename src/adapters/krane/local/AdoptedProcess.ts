/**
 * An instance's process started by an earlier krane-local run and still running: no ChildProcess
 * handle, so its end is noticed by polling, and every poll and signal first checks that the pid
 * still carries the instance's marker (a pid can be reused once the process is gone).
 */
import { Duration, Effect, Schedule } from "effect"
import { gracefulStop, killGroupRemains, signalGroup, type InstanceProcess } from "./InstanceProcess.js"
import { isOurs } from "./ProcTable.js"

const POLL = Duration.millis(100)

export interface AdoptSpec {
  readonly id: string
  readonly pid: number
  readonly port: number
  readonly startedAt: string
  readonly marker: string
}

export const adoptProcess = (spec: AdoptSpec): InstanceProcess => {
  const { pid } = spec
  const hasExited = () => !isOurs(pid, spec.marker)
  const awaitExit = Effect.sync(hasExited).pipe(
    Effect.repeat({ schedule: Schedule.spaced(POLL), until: (gone) => gone }),
    Effect.as("exit status unknown: adopted process")
  )
  const signal = (sig: NodeJS.Signals): void => {
    if (!hasExited()) signalGroup(pid, sig)
  }
  return {
    pid,
    port: spec.port,
    startedAt: spec.startedAt,
    hasExited,
    awaitExit,
    stop: gracefulStop(spec.id, { pid, hasExited, awaitExit }, signal),
    killLeftovers: () => killGroupRemains(pid)
  }
}
