/**
 * The RoutingService port: owns the route table the gateway reads. One entry per project holds every
 * hostname and the upstreams of the deployments they point to, so a multi-domain switch is one
 * atomic write (gateway config and domain pointers cannot disagree).
 */
import { Context, Data, type Effect } from "effect"
import type { RouteTable } from "../../domain/routes.js"

export class RoutingUnavailable extends Data.TaggedError("RoutingUnavailable")<{ readonly message: string }> {}

/** The stored table was derived from a newer project version than ours: our state is stale. */
export class StaleRouteTable extends Data.TaggedError("StaleRouteTable")<{
  readonly projectId: string
  readonly storedVersion: number
  readonly ourVersion: number
}> {}

export interface StoredRouteTable extends RouteTable {
  /** The project version the table was derived from. */
  readonly basedOnVersion: number
}

export interface RoutingServiceApi {
  /** Writes the project's whole table; returns the KV revision written. Idempotent for equal tables. */
  readonly writeTable: (
    table: RouteTable,
    basedOnVersion: number
  ) => Effect.Effect<number, RoutingUnavailable | StaleRouteTable>
  readonly readTable: (projectId: string) => Effect.Effect<StoredRouteTable | null, RoutingUnavailable>
}

export class RoutingService extends Context.Tag("berth/RoutingService")<RoutingService, RoutingServiceApi>() {}
