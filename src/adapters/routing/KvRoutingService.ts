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

  /**
   * What this process last wrote or read per project. A write first tries a CAS update against it,
   * saving the read; if anyone else wrote since, the CAS fails and the write reads and checks again.
   */
  const known = new Map<string, { readonly revision: number; readonly basedOnVersion: number }>()

  const casWrite = (table: RouteTable, basedOnVersion: number, current: { revision: number; basedOnVersion: number } | null) =>
    Effect.gen(function* () {
      if (current !== null && current.basedOnVersion > basedOnVersion) {
        return yield* new StaleRouteTable({
          projectId: table.projectId,
          storedVersion: current.basedOnVersion,
          ourVersion: basedOnVersion
        })
      }
      const value = JSON.stringify({ ...table, basedOnVersion } satisfies StoredRouteTable)
      const revision = yield* Effect.tryPromise({
        try: () =>
          current === null || current.revision === 0
            ? kv.create(table.projectId, value)
            : kv.update(table.projectId, value, current.revision),
        catch: unavailable
      })
      known.set(table.projectId, { revision, basedOnVersion })
      return revision
    })

  const writeOnce = (table: RouteTable, basedOnVersion: number) =>
    Effect.gen(function* () {
      const cached = known.get(table.projectId)
      if (cached !== undefined) {
        const fast = yield* Effect.either(casWrite(table, basedOnVersion, cached))
        if (fast._tag === "Right") return fast.right
        known.delete(table.projectId)
        if (fast.left._tag === "StaleRouteTable") return yield* fast.left
      }
      const current = yield* read(table.projectId)
      return yield* casWrite(
        table,
        basedOnVersion,
        current.table === null ? (current.revision === 0 ? null : { revision: current.revision, basedOnVersion: 0 }) : {
          revision: current.revision,
          basedOnVersion: current.table.basedOnVersion
        }
      )
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
