/**
 * The gateway as a service: Berth's HTTP entry for deployed apps, routing by Host through the route
 * table in KV (see proxy/GatewayServer.ts). `Gateway.layer` runs it for the life of the layer; its
 * limits and deadlines (BERTH_GATEWAY_*, settings.ts) are read from the environment when it starts,
 * and a bad value fails the layer naming the variable.
 */
import { Context, Layer } from "effect"
import type { Nats } from "../../nats/Nats.js"
import type { GatewayError } from "./GatewayError.js"
import { startGateway, type GatewayAddress, type GatewayOptions } from "./proxy/GatewayServer.js"

export type { GatewayAddress, GatewayOptions } from "./proxy/GatewayServer.js"
export type { GatewaySettings } from "./settings.js"

export class Gateway extends Context.Tag("berth/Gateway")<Gateway, GatewayAddress>() {
  static layer(options: GatewayOptions): Layer.Layer<Gateway, GatewayError, Nats> {
    return Layer.scoped(Gateway, startGateway(options))
  }
}
