/**
 * The orchestrator role: command intake, project actors and their steps. Needs NATS and a Krane,
 * never PostgreSQL. Ready while its intake consumes; reports awake actors and quarantined projects.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { IntakeHealth } from "../../actors/IntakeHealth.js"
import { ActorKey } from "../../auth/actor.js"
import { OrchestratorLive } from "../../actors/Orchestrator.js"
import { ConnectKrane } from "../../adapters/krane/ConnectKrane.js"
import { Nats } from "../../nats/Nats.js"
import { describeReplication } from "../../nats/replicas.js"
import { HealthReporter } from "../../health/HealthReporter.js"
import type { Check } from "../../health/RoleHealth.js"
import { requireUrl, type RoleEndpoints, type RoleStarted } from "./endpoints.js"
import { ProjectOwnership } from "../../partitions/Ownership.js"
import { describePartitioning, partitionsCheck } from "../../partitions/describe.js"

const checks = Effect.gen(function* () {
  const intake = yield* (yield* IntakeHealth).status
  const { replication } = yield* Nats
  const since = new Date(intake.since).toISOString()
  return {
    intake: intake.consuming
      ? { ok: true, detail: `consuming since ${since}` }
      : { ok: false, detail: `not consuming since ${since}${intake.lastError === undefined ? "" : `: ${intake.lastError}`} (restarting)` },
    actors: { ok: true, detail: `${intake.actors} project actor(s) awake, ${intake.quarantined} project(s) quarantined` },
    partitions: partitionsCheck((yield* ProjectOwnership).partitioning, intake.partitions),
    // The count this orchestrator creates and keeps its streams with (src/nats/replicas.ts).
    replication: { ok: true, detail: describeReplication(replication) }
  } satisfies Record<string, Check>
})

const layer = (endpoints: RoleEndpoints) =>
  HealthReporter("orchestrator", checks).pipe(
    Layer.provideMerge(OrchestratorLive(endpoints.orchestrator)),
    // The key the API signs actors with: the audit trail trusts only actors whose signature verifies.
    Layer.provide(ActorKey.layer(endpoints.dataDir)),
    Layer.provide(
      requireUrl(endpoints.kraneUrl, "KRANE_URL", "orchestrator")((url) =>
        ConnectKrane.layer(url, endpoints.kraneToken === undefined ? {} : { token: endpoints.kraneToken })
      )
    ),
    Layer.provideMerge(Nats.layer(endpoints.natsUrl, { waitForServer: true, streams: "ensure", auth: endpoints.natsAuth }))
  )

/** Runs the role for the life of the scope. */
export const start = (endpoints: RoleEndpoints): Effect.Effect<RoleStarted, unknown, Scope.Scope> =>
  Effect.map(Layer.build(layer(endpoints)), (context) => ({
    partitions: describePartitioning(Context.get(context, ProjectOwnership).partitioning, endpoints.orchestrator.leaseTtl)
  }))
