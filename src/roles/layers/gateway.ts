/**
 * The gateway role: the reverse proxy for deployed apps, routing by Host from KV `berth_routes`.
 */
import { Effect, Layer } from "effect"
import { Gateway } from "../../adapters/gateway/Gateway.js"
import { Nats } from "../../eventstore/Nats.js"
import { HealthReporter } from "../../health/HealthReporter.js"
import type { RoleEndpoints } from "./endpoints.js"

export const layer = (endpoints: RoleEndpoints) =>
  HealthReporter("gateway", Effect.succeed({})).pipe(
    Layer.provideMerge(Gateway.layer(endpoints.gateway)),
    Layer.provideMerge(Nats.layer(endpoints.natsUrl, { waitForServer: true }))
  )
