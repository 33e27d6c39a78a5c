/**
 * HostnameClaims on the NATS KV bucket `berth_hostnames`: key = the hostname (claimKey), value = the
 * owner's project id. `create` is the atomic first-owner-wins (it fails when the key holds a value);
 * a failed create is then read, so claiming a hostname the project already holds succeeds.
 *
 * At start the orchestrator backfills the claims of hostnames routed before claims existed (every
 * project's route table, oldest table first: its project keeps a hostname two tables name), once: a
 * marker key records that it ran.
 */
import type { KV } from "@nats-io/kv"
import { Effect, Either, Layer, Schema } from "effect"
import type { AckedPublisher } from "../../nats/AckedPublisher.js"
import { openKv } from "../../nats/buckets.js"
import { kvPut } from "../../nats/kvPut.js"
import { Nats } from "../../nats/Nats.js"
import { buckets } from "../../nats/subjects.js"
import { StoredRouteTableSchema } from "../routing/KvRoutingService.js"
import { backfillMarker, claimKey, ClaimsUnavailable, HostnameClaims } from "./HostnameClaims.js"

const unavailable = (operation: string) => (cause: unknown) =>
  new ClaimsUnavailable({ message: `${operation}: ${cause instanceof Error ? cause.message : String(cause)}` })

/** The project holding `hostname`, if any. */
const holderOf = (kv: KV, hostname: string) =>
  Effect.tryPromise({ try: () => kv.get(claimKey(hostname)), catch: unavailable(`read the claim of ${hostname}`) }).pipe(
    Effect.map((entry) => (entry === null || entry.operation !== "PUT" ? null : entry.string()))
  )

const encoder = new TextEncoder()

/**
 * Claims one hostname; true when `projectId` holds it afterwards. The create is a put that expects
 * no entry yet, on the acked publisher's fast path (a claim per new hostname, several per Deploy).
 * When it fails, who holds the key decides; a key with no holder (deleted by hand: its delete
 * marker is an entry) is created the KV client's way, which writes over a delete marker.
 */
const claimOne = (kv: KV, publisher: AckedPublisher, projectId: string, hostname: string) =>
  kvPut(publisher, buckets.hostnames, claimKey(hostname), encoder.encode(projectId), 0).pipe(
    Effect.as(true),
    Effect.catchAll((createError) =>
      Effect.flatMap(holderOf(kv, hostname), (holder) =>
        holder !== null
          ? Effect.succeed(holder === projectId)
          : Effect.tryPromise({ try: () => kv.create(claimKey(hostname), projectId), catch: () => createError }).pipe(
              Effect.as(true),
              Effect.catchAll((error) =>
                Effect.flatMap(holderOf(kv, hostname), (again) =>
                  again === null ? Effect.fail(unavailable(`claim ${hostname}`)(error)) : Effect.succeed(again === projectId)
                )
              )
            )
      )
    )
  )

export const makeKvHostnameClaims = (kv: KV, publisher: AckedPublisher) =>
  HostnameClaims.of({
    // One after another: a fiber per hostname cost more than the round trips it overlapped.
    claim: (projectId, hostnames) =>
      Effect.forEach(hostnames, (hostname) => Effect.map(claimOne(kv, publisher, projectId, hostname), (held) => (held ? [] : [hostname]))).pipe(
        Effect.map((taken) => taken.flat().sort()),
        Effect.withSpan("claims.claim", { captureStackTrace: false, attributes: { projectId, count: hostnames.length } })
      )
  })

const decodeTable = Schema.decodeUnknownEither(Schema.parseJson(StoredRouteTableSchema))

/** Claims the hostnames of every route table for its project, once (see the header). */
export const backfillClaims = (claims: KV, routes: KV, publisher: AckedPublisher) =>
  Effect.gen(function* () {
    const done = yield* Effect.tryPromise({ try: () => claims.get(backfillMarker), catch: unavailable("read the backfill marker") })
    if (done !== null && done.operation === "PUT") return
    const keys = yield* Effect.tryPromise({
      try: async () => {
        const found: Array<string> = []
        for await (const key of await routes.keys()) found.push(key)
        return found
      },
      catch: unavailable(`list ${buckets.routes}`)
    })
    const tables = yield* Effect.forEach(keys, (key) =>
      Effect.tryPromise({ try: () => routes.get(key), catch: unavailable(`read route table ${key}`) }).pipe(
        Effect.map((entry) => {
          if (entry === null || entry.operation !== "PUT") return []
          const decoded = decodeTable(entry.string())
          return Either.isRight(decoded) ? [{ revision: entry.revision, table: decoded.right }] : []
        })
      )
    )
    const service = makeKvHostnameClaims(claims, publisher)
    let claimed = 0
    for (const { table } of tables.flat().sort((a, b) => a.revision - b.revision)) {
      const hostnames = Object.keys(table.routes)
      const taken = yield* service.claim(table.projectId, hostnames)
      claimed += hostnames.length - taken.length
      if (taken.length > 0) {
        yield* Effect.logWarning("backfill: hostnames routed by two projects stay with the first; the gateway no longer routes them to the other").pipe(
          Effect.annotateLogs({ projectId: table.projectId, hostnames: taken.join(", ") })
        )
      }
    }
    yield* Effect.tryPromise({ try: () => claims.put(backfillMarker, new Date().toISOString()), catch: unavailable("write the backfill marker") })
    yield* Effect.logInfo("hostname claims backfilled from the route tables").pipe(Effect.annotateLogs({ tables: tables.length, claimed }))
  })

/** The orchestrator's claims: opens (creates) the bucket and backfills it before any command is decided. */
export const KvHostnameClaimsLive = Layer.effect(
  HostnameClaims,
  Effect.gen(function* () {
    const nats = yield* Nats
    const claims = yield* openKv(nats, buckets.hostnames, { history: 1 })
    const routes = yield* openKv(nats, buckets.routes, { history: 5 })
    yield* backfillClaims(claims, routes, nats.publisher)
    return makeKvHostnameClaims(claims, nats.publisher)
  })
)
