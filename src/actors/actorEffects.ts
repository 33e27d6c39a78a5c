/**
 * What a project actor reaches outside itself for, besides its log: the route-table write and the
 * hostname claims a Decision asks for (runDecision.ts), and the inputs the decider names before it
 * decides (a switch target's running instances, from Krane). Each reads the actor's current state and
 * version through `view`, so every write derives from the latest decision.
 */
import { Duration, Effect } from "effect"
import { HostnameClaims } from "../adapters/claims/HostnameClaims.js"
import { Krane } from "../adapters/krane/Krane.js"
import { RoutingService } from "../adapters/routing/RoutingService.js"
import type { OrchestratorSettings } from "../config.js"
import { inputsFor, type DecideInputs, type Message, type RunningInstancesQuery } from "../domain/decide.js"
import type { RouteTable } from "../domain/routes.js"
import type { ProjectState } from "../domain/state.js"
import { retryAfterFailure } from "../shared/retry.js"
import type { makeRetiredDeployments } from "./retiredDeployments.js"
import { retryFor } from "./StepRunner.js"

const instanceCheckTimeout = Duration.seconds(5)
/** Most hostnames an actor remembers as claimed (actorEffects `claimed`). */
const claimedCacheSize = 256

export interface ActorView {
  readonly state: () => ProjectState
  readonly version: () => number
}

export const makeActorEffects = (
  projectId: string,
  settings: OrchestratorSettings,
  retired: ReturnType<typeof makeRetiredDeployments>,
  view: ActorView
) =>
  Effect.gen(function* () {
    const routing = yield* RoutingService
    const krane = yield* Krane
    const claims = yield* HostnameClaims
    /**
     * Hostnames this actor has claimed for its project (or found it holds): not claimed again. A cache,
     * capped: every deployment brings a hostname of its own, and claiming a held hostname again only
     * costs a KV read (so emptying it when full is safe).
     */
    const claimed = new Set<string>()

    const writeRoutes = (table: RouteTable) =>
      Effect.flatMap(retired.withRetired(view.state(), table), (whole) => routing.writeTable(whole, view.version())).pipe(
        (self) => retryAfterFailure(self, { schedule: retryFor(settings, "assign-domains"), while: (error) => error._tag === "RoutingUnavailable" }),
        Effect.mapError((error) =>
          error._tag === "StaleRouteTable"
            ? `the route table was written by a newer decision (version ${error.storedVersion})`
            : error.message
        ),
        Effect.either
      )

    /** The claims store away fails the message (a command is redelivered). */
    const claim = (hostnames: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const fresh = hostnames.filter((hostname) => !claimed.has(hostname))
        if (fresh.length === 0) return []
        const taken = yield* claims.claim(projectId, fresh)
        for (const hostname of fresh) {
          if (taken.includes(hostname)) continue
          if (claimed.size >= claimedCacheSize) claimed.clear()
          claimed.add(hostname)
        }
        return taken
      })


    /** A switch target's running instances, as Krane reports them now (the recorded ones if it cannot say). */
    const runningInstances = (query: RunningInstancesQuery) =>
      krane.getDeployment(query.namespace, query.kraneDeploymentId).pipe(
        Effect.timeout(instanceCheckTimeout),
        Effect.map((instances) => instances.filter((i) => i.status === "RUNNING").length),
        Effect.catchTag("KraneDeploymentNotFound", () => Effect.succeed(0)),
        Effect.catchAll((error) =>
          Effect.logWarning("could not ask Krane about the target's instances; using the recorded ones", String(error)).pipe(
            Effect.as(query.recorded)
          )
        )
      )

    const inputsOf = (message: Message, now: number): Effect.Effect<DecideInputs> => {
      const base = { now, readinessTimeoutMs: Duration.toMillis(settings.readinessTimeout), apexDomains: settings.apexDomains }
      const query = inputsFor(view.state(), message)
      return query === undefined ? Effect.succeed(base) : Effect.map(runningInstances(query), (n) => ({ ...base, runningInstances: n }))
    }

    return { writeRoutes, claim, inputsOf }
  })
