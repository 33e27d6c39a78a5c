/**
 * The gateway as a service: Berth's HTTP entry for deployed apps, routing by Host through the route
 * table in KV (see proxy/GatewayServer.ts). `Gateway.layer` runs it for the life of the layer.
 */
import { Context, Layer } from "effect"
import type { Nats } from "../../eventstore/Nats.js"
import type { GatewayError } from "./GatewayError.js"
import { startGateway, type GatewayAddress, type GatewayOptions } from "./proxy/GatewayServer.js"

export type { GatewayAddress, GatewayOptions } from "./proxy/GatewayServer.js"

export class Gateway extends Context.Tag("berth/Gateway")<Gateway, GatewayAddress>() {
  static layer(options: GatewayOptions): Layer.Layer<Gateway, GatewayError, Nats> {
    return Layer.scoped(Gateway, startGateway(options))
  }
}
