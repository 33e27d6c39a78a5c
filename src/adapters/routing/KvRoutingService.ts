/**
 * RoutingService on a JetStream KV bucket: key = projectId, value = the whole route table.
 * Writes use revision CAS, and refuse to replace a table derived from a newer project version, so
 * two Berth processes that ever overlap cannot roll traffic backwards.
 */
import { Kvm, type KV } from "@nats-io/kv"
import { Effect, Layer, Schema } from "effect"
import { Nats } from "../../eventstore/Nats.js"
import { buckets } from "../../eventstore/subjects.js"
import type { RouteTable } from "../../domain/routes.js"
import { StickyKind } from "../../domain/events.js"
import { RoutingService, RoutingUnavailable, StaleRouteTable, type StoredRouteTable } from "./RoutingService.js"

export const StoredRouteTableSchema = Schema.Struct({
  projectId: Schema.String,
  basedOnVersion: Schema.Number,
  routes: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({ deploymentId: Schema.String, sticky: StickyKind, environmentId: Schema.String })
  }),
  upstreams: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) })
})

const decodeTable = Schema.decodeUnknownEither(Schema.parseJson(StoredRouteTableSchema))
const maxCasAttempts = 5

const unavailable = (cause: unknown) =>
  new RoutingUnavailable({ message: cause instanceof Error ? cause.message : String(cause) })

export const makeKvRoutingService = (kv: KV) => {
  const read = (projectId: string) =>
    Effect.tryPromise({ try: () => kv.get(projectId), catch: unavailable }).pipe(
      Effect.map((entry) => {
        if (entry === null || entry.operation !== "PUT") return { revision: 0, table: null }
        const decoded = decodeTable(entry.string())
        return { revision: entry.revision, table: decoded._tag === "Right" ? decoded.right : null }
      })
    )

  const writeOnce = (table: RouteTable, basedOnVersion: number) =>
    Effect.gen(function* () {
      const current = yield* read(table.projectId)
      if (current.table !== null && current.table.basedOnVersion > basedOnVersion) {
        return yield* new StaleRouteTable({
          projectId: table.projectId,
          storedVersion: current.table.basedOnVersion,
          ourVersion: basedOnVersion
        })
      }
      const value = JSON.stringify({ ...table, basedOnVersion } satisfies StoredRouteTable)
      return yield* Effect.tryPromise({
        try: () =>
          current.revision === 0 ? kv.create(table.projectId, value) : kv.update(table.projectId, value, current.revision),
        catch: unavailable
      })
    })

  return RoutingService.of({
    // A CAS miss means someone wrote between our read and our write: read again and re-check staleness.
    writeTable: (table, basedOnVersion) =>
      writeOnce(table, basedOnVersion).pipe(
        Effect.retry({ times: maxCasAttempts - 1, while: (error) => error._tag === "RoutingUnavailable" }),
        Effect.withSpan("routing.writeTable", { attributes: { projectId: table.projectId, basedOnVersion } })
      ),
    readTable: (projectId) => read(projectId).pipe(Effect.map((current) => current.table))
  })
}

export const KvRoutingServiceLive = Layer.effect(
  RoutingService,
  Effect.gen(function* () {
    const { nc } = yield* Nats
    const kv = yield* Effect.tryPromise({
      try: () => new Kvm(nc).create(buckets.routes, { history: 5 }),
      catch: unavailable
    })
    return makeKvRoutingService(kv)
  })
)
