/**
 * RoutingService test doubles over the real KV implementation: one that fails chosen writes (as if
 * the KV were unreachable), one that writes and then hangs (the write happened, its event did not),
 * and a reader of the stored route table.
 */
import { Kvm } from "@nats-io/kv"
import { Effect, Layer } from "effect"
import type { NatsConnection } from "@nats-io/transport-node"
import { kvRoutingService } from "../../src/adapters/routing/KvRoutingService.js"
import { RoutingService, RoutingUnavailable, type StoredRouteTable } from "../../src/adapters/routing/RoutingService.js"
import { Nats } from "../../src/nats/Nats.js"
import { buckets } from "../../src/nats/subjects.js"

const kvRouting = kvRoutingService.pipe(Effect.orDie)

export interface FailingRouting {
  readonly layer: Layer.Layer<RoutingService, never, Nats>
  /** Writes numbered from 1; the listed ones fail (every attempt of them). */
  failWrites: (predicate: (write: number) => boolean) => void
  readonly writes: () => number
}

export const makeFailingRouting = (): FailingRouting => {
  let failing: (write: number) => boolean = () => false
  let count = 0
  return {
    layer: Layer.effect(
      RoutingService,
      Effect.map(kvRouting, (real) =>
        RoutingService.of({
          ...real,
          writeTable: (table, version) =>
            Effect.suspend(() => {
              count++
              return failing(count)
                ? Effect.fail(new RoutingUnavailable({ message: "KV unreachable (test)" }))
                : real.writeTable(table, version)
            })
        })
      )
    ),
    failWrites: (predicate) => (failing = predicate),
    writes: () => count
  }
}

export const routingThatHangsAfterWriting: Layer.Layer<RoutingService, never, Nats> = Layer.effect(
  RoutingService,
  Effect.map(kvRouting, (real) =>
    RoutingService.of({ ...real, writeTable: (table, version) => real.writeTable(table, version).pipe(Effect.zipRight(Effect.never)) })
  )
)

/** hostname -> deploymentId as the gateway would read it. */
export const readRouteTable = async (nc: NatsConnection, projectId: string): Promise<Record<string, string>> => {
  const kv = await new Kvm(nc).open(buckets.routes)
  const entry = await kv.get(projectId)
  if (entry === null || entry.operation !== "PUT") return {}
  const table = entry.json<StoredRouteTable>()
  return Object.fromEntries(Object.entries(table.routes).map(([hostname, route]) => [hostname, route.deploymentId]))
}
