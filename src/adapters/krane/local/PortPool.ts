/**
 * The ports krane-local's instances hold: each instance keeps its port for as long as it lives
 * (across restarts, so route tables stay valid) and no two instances are handed the same one.
 */
import { Effect } from "effect"
import { freePort, isPortFree } from "../../../local/binaries.js"
import { KraneLocalError } from "./KraneLocalError.js"

const PORT_ATTEMPTS = 20

export interface PortPool {
  /** A free port nobody in the pool holds, now held. */
  readonly reserve: Effect.Effect<number, KraneLocalError>
  /** Holds a port recorded for an instance (restored from the state file). */
  readonly hold: (port: number) => void
  readonly release: (port: number) => void
  /** For an instance's next process: `current` while it is free, else a newly reserved port (releasing `current`). */
  readonly portFor: (current: number) => Effect.Effect<number, KraneLocalError>
}

export const makePortPool = (): PortPool => {
  const held = new Set<number>()

  const reserve = Effect.gen(function* () {
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = yield* freePort
      if (!held.has(port)) {
        held.add(port)
        return port
      }
    }
    return yield* new KraneLocalError({ message: `no free port after ${PORT_ATTEMPTS} attempts` })
  })

  const portFor = (current: number): Effect.Effect<number, KraneLocalError> =>
    Effect.gen(function* () {
      if (yield* isPortFree(current)) return current
      const next = yield* reserve
      held.delete(current)
      yield* Effect.logWarning(`port ${current} is taken; the instance moves to ${next}`)
      return next
    })

  return { reserve, hold: (port) => void held.add(port), release: (port) => void held.delete(port), portFor }
}
