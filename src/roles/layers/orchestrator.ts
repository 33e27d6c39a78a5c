/**
 * The orchestrator role: command intake, project actors and their steps. Needs NATS and a Krane,
 * never PostgreSQL. Reports how many actors are awake.
 */
import { Effect, Layer } from "effect"
import { ActorSystem } from "../../actors/ActorSystem.js"
import { OrchestratorLive } from "../../actors/Orchestrator.js"
import { ConnectKrane } from "../../adapters/krane/ConnectKrane.js"
import { Nats } from "../../eventstore/Nats.js"
import { HealthReporter } from "../../health/HealthReporter.js"
import type { Check } from "../../health/RoleHealth.js"
import { requireUrl, type RoleEndpoints } from "./endpoints.js"

const checks = Effect.gen(function* () {
  const system = yield* ActorSystem
  const actors = yield* system.activeActors
  return { actors: { ok: true, detail: `${actors} project actor(s) awake` } } satisfies Record<string, Check>
})

export const layer = (endpoints: RoleEndpoints) =>
  HealthReporter("orchestrator", checks).pipe(
    Layer.provideMerge(OrchestratorLive(endpoints.orchestrator)),
    Layer.provide(requireUrl(endpoints.kraneUrl, "KRANE_URL", "orchestrator")(ConnectKrane.layer)),
    Layer.provideMerge(Nats.layer(endpoints.natsUrl))
  )
