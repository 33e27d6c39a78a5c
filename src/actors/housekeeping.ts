/**
 * A project actor's housekeeping between messages: a snapshot every `snapshotEvery` envelopes (finished
 * deployments retired to the archive first), and the in-flight marker a new process resumes from.
 * Neither changes what the actor decides; both are checked in plain code, so a message that needs
 * neither costs nothing here.
 */
import { Effect } from "effect"
import type { OrchestratorSettings } from "../config.js"
import type { ProjectState } from "../domain/state.js"
import { hasWorkInFlight } from "../domain/steps.js"
import type { EventStoreService } from "../eventstore/EventStore.js"
import type { makeRetiredDeployments } from "./retiredDeployments.js"

export interface HousekeepingHooks {
  /** Records whether the project has work in flight, so a new process knows whom to resume. */
  readonly markInFlight: (projectId: string, inFlight: boolean) => Effect.Effect<void>
}

export const makeHousekeeping = (
  projectId: string,
  store: EventStoreService,
  settings: OrchestratorSettings,
  retired: ReturnType<typeof makeRetiredDeployments>,
  hooks: HousekeepingHooks,
  envelopesSinceSnapshot: number
) => {
  let sinceSnapshot = envelopesSinceSnapshot
  let inFlightMarked: boolean | undefined

  return {
    /** One envelope appended. */
    appended: () => {
      sinceSnapshot++
    },
    snapshotDue: () => sinceSnapshot >= settings.snapshotEvery,
    /** The state after retirement, snapshotted at `version`. */
    snapshot: (state: ProjectState, version: number, busy: (deploymentId: string) => boolean) =>
      Effect.gen(function* () {
        const hot = yield* retired.retireFinished(state, version, busy)
        // Written, skipped (too large) or failed: the next try is snapshotEvery envelopes later either
        // way, never on every message (a snapshot only saves replay time).
        yield* store.saveSnapshot(projectId, version, hot).pipe(
          Effect.catchAll((error) => Effect.logWarning("snapshot failed; trying again after the next envelopes", error.message)),
          Effect.ensuring(Effect.sync(() => (sinceSnapshot = 0)))
        )
        return hot
      }),
    inFlightChanged: (state: ProjectState) => hasWorkInFlight(state) !== inFlightMarked,
    markInFlight: (state: ProjectState) =>
      Effect.suspend(() => {
        const inFlight = hasWorkInFlight(state)
        return Effect.map(hooks.markInFlight(projectId, inFlight), () => {
          inFlightMarked = inFlight
        })
      })
  }
}
