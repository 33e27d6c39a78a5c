/**
 * The gateway role: the reverse proxy for deployed apps, routing by Host from KV `berth_routes`.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { Gateway } from "../../adapters/gateway/Gateway.js"
import { Nats } from "../../nats/Nats.js"
import { HealthReporter } from "../../health/HealthReporter.js"
import type { RoleEndpoints, RoleStarted } from "./endpoints.js"

const layer = (endpoints: RoleEndpoints) =>
  HealthReporter("gateway", Effect.succeed({})).pipe(
    Layer.provideMerge(Gateway.layer(endpoints.gateway)),
    Layer.provideMerge(Nats.layer(endpoints.natsUrl, { waitForServer: true, streams: "bind", auth: endpoints.natsAuth }))
  )

/** Runs the role for the life of the scope. */
export const start = (endpoints: RoleEndpoints): Effect.Effect<RoleStarted, unknown, Scope.Scope> =>
  Effect.map(Layer.build(layer(endpoints)), (context) => ({ url: Context.get(context, Gateway).url }))
