/**
 * RoutingService on a JetStream KV bucket: key = projectId, value = the whole route table.
 * Writes use revision CAS, and refuse to replace a table derived from a newer project version, so
 * two Berth processes that ever overlap cannot roll traffic backwards.
 */
import { Kvm, type KV } from "@nats-io/kv"
import { Effect, Layer, Schedule, Schema } from "effect"
import type { AckedPublisher } from "../../nats/AckedPublisher.js"
import { Nats } from "../../nats/Nats.js"
import { buckets } from "../../nats/subjects.js"
import { kvPut } from "../../nats/kvPut.js"
import { retryAfterFailure } from "../../shared/retry.js"
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

const encoder = new TextEncoder()

/** Reads through the KV client; writes go over the connection's fast publish path, as KV puts do. */
export const makeKvRoutingService = (kv: KV, publisher: AckedPublisher) => {
  const read = (projectId: string) =>
    Effect.tryPromise({ try: () => kv.get(projectId), catch: unavailable }).pipe(
      Effect.map((entry) => {
        if (entry === null) return { revision: 0, table: null }
        // A deleted key: the next write must name the delete marker's revision.
        if (entry.operation !== "PUT") return { revision: entry.revision, table: null }
        const decoded = decodeTable(entry.string())
        return { revision: entry.revision, table: decoded._tag === "Right" ? decoded.right : null }
      })
    )

  /**
   * What this process last wrote or read per project. A write first tries a CAS update against it
   * (a create for a project not known here), saving the read; if anyone else wrote since, the CAS
   * fails and the write reads and checks again.
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
      // The expected revision makes the put a CAS (0 = create).
      const revision = yield* kvPut(publisher, buckets.routes, table.projectId, encoder.encode(value), current?.revision ?? 0).pipe(
        Effect.mapError(unavailable)
      )
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
      } else {
        // Not known here: most often a new project, whose table does not exist yet. A create-only put
        // needs no read (and cannot be stale: nothing is stored); if the table exists it fails, and
        // the read below finds it.
        const created = yield* Effect.either(casWrite(table, basedOnVersion, null))
        if (created._tag === "Right") return created.right
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
        (self) => retryAfterFailure(self, { schedule: Schedule.recurs(maxCasAttempts - 1), while: (error) => error._tag === "RoutingUnavailable" })
      ),
    readTable: (projectId) => read(projectId).pipe(Effect.map((current) => current.table))
  })
}

/** The service on this process's NATS connection (creates the bucket when missing). */
export const kvRoutingService = Effect.gen(function* () {
  const { nc, publisher, replication } = yield* Nats
  const kv = yield* Effect.tryPromise({
    try: () => new Kvm(nc).create(buckets.routes, { history: 5, replicas: replication.replicas }),
    catch: unavailable
  })
  return makeKvRoutingService(kv, publisher)
})

export const KvRoutingServiceLive = Layer.effect(RoutingService, kvRoutingService)
