/**
 * The actor's side of retirement (src/domain/retirement.ts), kept out of the message loop: at snapshot
 * time finished deployments move to the archive; before a command is decided, the retired deployments
 * it names come back; before a whole route table is written, the retired routes are added under the
 * hot ones. The pure rules live in the domain; this only reads and writes the archive.
 */
import { Effect } from "effect"
import { RoutingUnavailable } from "../adapters/routing/RoutingService.js"
import type { OrchestratorSettings } from "../config.js"
import type { Command } from "../domain/commands.js"
import {
  deploymentsNamedBy,
  noRetiredRoutes,
  reinstate,
  retire,
  toReinstate,
  withRetiredRoutes,
  type RetiredRoutes
} from "../domain/retirement.js"
import type { RouteTable } from "../domain/routes.js"
import type { ProjectState } from "../domain/state.js"
import type { ArchiveService } from "../eventstore/Archive.js"

export const makeRetiredDeployments = (projectId: string, store: ArchiveService, settings: OrchestratorSettings) => {
  /** Routes of retired deployments, read when a whole-table write first needs them. */
  let retiredRoutes: RetiredRoutes = noRetiredRoutes

  return {
    /**
     * The hot state after retiring what can go: archived first, so the snapshot written next may drop
     * it. When the archive cannot be written, nothing is retired (the snapshot keeps everything).
     */
    retireFinished: (state: ProjectState, version: number, busy: (deploymentId: string) => boolean) =>
      Effect.gen(function* () {
        const retirement = retire(state, { keep: settings.hotDeployments, version, busy })
        if (retirement.retired.length === 0) return state
        const routes = yield* store.archive(projectId, state, retirement)
        if (routes !== null) retiredRoutes = routes
        return retirement.state
      }).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("could not archive finished deployments; they stay hot", error.message).pipe(Effect.as(state))
        )
      ),

    /** The state with the retired deployments `command` names back in it: decided as if they never left. */
    reinstateNamed: (state: ProjectState, command: Command) => {
      const ids = toReinstate(state, deploymentsNamedBy(command))
      if (ids.length === 0) return Effect.succeed(state)
      return Effect.map(store.archived(projectId, ids), (back) => reinstate(state, back))
    },

    /** The whole table a route write replaces: the hot state's table over the retired routes. */
    withRetired: (state: ProjectState, table: RouteTable) =>
      state.retired.routesAsOf === 0
        ? Effect.succeed(table)
        : Effect.gen(function* () {
            if (retiredRoutes.asOf < state.retired.routesAsOf) retiredRoutes = yield* store.retiredRoutes(projectId, state)
            return withRetiredRoutes(table, retiredRoutes)
          }).pipe(
            // Retried like the route write it is part of.
            Effect.mapError((error) => new RoutingUnavailable({ message: `could not read the routes of retired deployments: ${error.message}` }))
          )
  }
}
