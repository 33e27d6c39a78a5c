/**
 * Restart reconciliation: what a starting krane-local makes of the processes its state file
 * records. A recorded process still alive and carrying its instance's marker is adopted; any other
 * process carrying this data dir's token (what an instance left behind, or one spawned but never
 * recorded) is killed, so nothing runs that krane-local does not know about. Deciding what to
 * restart or finish deleting belongs to ProcessDriver.
 */
import { Duration, Effect, Schedule } from "effect"
import { adoptProcess } from "./AdoptedProcess.js"
import type { InstanceProcess } from "./InstanceProcess.js"
import { canVerifyOwnership, isAlive, isOurs, processesMarked } from "./ProcTable.js"
import type { KraneLocalState } from "./StateFile.js"

/** The LOCAL_INSTANCE_MARKER value of one instance's processes. */
export const instanceMarker = (token: string, namespace: string, instanceId: string) =>
  `${token}:${JSON.stringify([namespace, instanceId])}`

const STRAY_WAIT = Duration.seconds(2)

/** Adopts the recorded processes still running as ours (by marker) and kills the strays. */
export const reconcile = (state: KraneLocalState): Effect.Effect<ReadonlyMap<string, InstanceProcess>> =>
  Effect.gen(function* () {
    const adopted = new Map<string, InstanceProcess>()
    const recorded = state.deployments.flatMap((d) =>
      d.instances.flatMap((i) => (i.pid === null ? [] : [{ ...i, pid: i.pid, marker: instanceMarker(state.token, d.namespace, i.id) }]))
    )
    if (!canVerifyOwnership()) {
      if (recorded.length > 0) {
        yield* Effect.logWarning(
          `krane-local: without /proc it cannot tell whether recorded pids ${recorded.map((i) => i.pid).join(", ")} are still its own; starting fresh processes instead`
        )
      }
      return adopted
    }
    for (const instance of recorded) {
      if (!isOurs(instance.pid, instance.marker)) continue
      adopted.set(
        instance.marker,
        adoptProcess({
          id: instance.id,
          pid: instance.pid,
          port: instance.port,
          startedAt: instance.startedAt ?? new Date().toISOString(),
          marker: instance.marker
        })
      )
    }

    const strays = processesMarked(`${state.token}:`).filter((p) => !adopted.has(p.marker))
    if (strays.length > 0) {
      yield* Effect.logWarning(`krane-local: killing ${strays.length} process(es) it no longer tracks: pids ${strays.map((p) => p.pid).join(", ")}`)
      for (const stray of strays) {
        try {
          process.kill(stray.pid, "SIGKILL")
        } catch {
          // Gone already.
        }
      }
      yield* Effect.sync(() => strays.some((p) => isAlive(p.pid))).pipe(
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), while: (someAlive) => someAlive }),
        Effect.timeoutOption(STRAY_WAIT)
      )
    }
    if (adopted.size > 0) yield* Effect.logInfo(`krane-local: adopted ${adopted.size} running process(es) from its last run`)
    return adopted
  })
