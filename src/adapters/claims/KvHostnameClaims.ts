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

/** Claims one hostname through the KV client; true when `projectId` holds it afterwards. */
const claimOne = (kv: KV, projectId: string, hostname: string) =>
  Effect.tryPromise({ try: () => kv.create(claimKey(hostname), projectId), catch: (cause) => cause }).pipe(
    Effect.as(true),
    // The key exists (or the create could not be sent): who holds it decides.
    Effect.catchAll((createError) =>
      Effect.flatMap(holderOf(kv, hostname), (holder) =>
        holder === null
          ? Effect.fail(unavailable(`claim ${hostname}`)(createError))
          : Effect.succeed(holder === projectId)
      )
    )
  )

const encoder = new TextEncoder()

/**
 * A hostname nobody claimed yet (a new deployment's own hostnames, each deployment) is one create-only
 * put on the publisher's fast path; anything else (the key exists, deleted or held) takes the KV
 * client's create and the read of who holds it, as before.
 */
const claimFast = (kv: KV, publisher: AckedPublisher, projectId: string, hostname: string) =>
  kvPut(publisher, buckets.hostnames, claimKey(hostname), encoder.encode(projectId), 0).pipe(
    Effect.as(true),
    Effect.catchAll(() => claimOne(kv, projectId, hostname))
  )

export const makeKvHostnameClaims = (kv: KV, publisher?: AckedPublisher) =>
  HostnameClaims.of({
    claim: (projectId, hostnames) =>
      Effect.forEach(
        hostnames,
        (hostname) =>
          Effect.map(publisher === undefined ? claimOne(kv, projectId, hostname) : claimFast(kv, publisher, projectId, hostname), (held) =>
            held ? [] : [hostname]
          ),
        // One fiber for the usual single fresh hostname; a new project's several go 8 at a time.
        { concurrency: hostnames.length > 1 ? 8 : 1 }
      ).pipe(
        Effect.map((taken) => taken.flat().sort()),
        Effect.withSpan("claims.claim", { captureStackTrace: false, attributes: { projectId, count: hostnames.length } })
      )
  })

const decodeTable = Schema.decodeUnknownEither(Schema.parseJson(StoredRouteTableSchema))

/** Claims the hostnames of every route table for its project, once (see the header). */
export const backfillClaims = (claims: KV, routes: KV) =>
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
    const service = makeKvHostnameClaims(claims)
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
    yield* backfillClaims(claims, routes)
    return makeKvHostnameClaims(claims, nats.publisher)
  })
)
