/**
 * Scrapes `http://<instance address><path>` (Unkey S0's local mode), with a timeout, no redirects and a
 * size cap, and keeps the document in the JetStream object store (the log holds only its digest:
 * documents can be megabytes, far above a sensible event size). The store write is one chunk and one
 * meta publish on the fast path (src/nats/objectPut.ts), the HTTP a keep-alive exchange (httpExchange.ts).
 */
import { createHash } from "node:crypto"
import type { Agent } from "node:http"
import { Objm } from "@nats-io/obj"
import { Duration, Effect, Layer } from "effect"
import { Nats } from "../../nats/Nats.js"
import { type ObjectPut, putObject } from "../../nats/objectPut.js"
import { httpExchange, keepAliveAgent } from "../http/httpExchange.js"
import { buckets } from "../../nats/subjects.js"
import { OpenApiScraper, ScrapeUnavailable, type ScrapeOutcome } from "./OpenApiScraper.js"

export interface ScrapeLimits {
  readonly timeout: Duration.Duration
  readonly maxBytes: number
}

type Fetched =
  | { readonly _tag: "Body"; readonly body: Uint8Array }
  | { readonly _tag: "Absent"; readonly reason: string }
  | { readonly _tag: "Failed"; readonly reason: string }

const fetchFrom = (address: string, path: string, limits: ScrapeLimits, agent: Agent): Effect.Effect<Fetched> => {
  const url = `http://${address}${path}`
  return httpExchange(url, { method: "GET", timeoutMs: Duration.toMillis(limits.timeout), maxBytes: limits.maxBytes, agent }).pipe(
    Effect.map((response): Fetched => {
      if (response.status === 404) return { _tag: "Absent", reason: `${path} answered 404 on ${address}` }
      if (response.status !== 200) {
        const reason = `unexpected status ${response.status} from ${url}`
        return response.status >= 500 ? { _tag: "Failed", reason } : { _tag: "Absent", reason }
      }
      if (response.body === null) return { _tag: "Absent", reason: `openapi spec exceeds maximum size of ${limits.maxBytes} bytes` }
      return { _tag: "Body", body: response.body }
    }),
    Effect.catchAll((error) => Effect.succeed<Fetched>({ _tag: "Failed", reason: `${url}: ${error.message}` }))
  )
}

export const makeHttpOpenApiScraper = (write: (put: ObjectPut) => Effect.Effect<void, Error>, limits: ScrapeLimits, agent: Agent) =>
  OpenApiScraper.of({
    scrape: (objectName, addresses, path) =>
      Effect.gen(function* () {
        // Unkey S0 ("scrape openapi spec") asks every instance in turn and keeps the first 200: one
        // instance without the document (404, other non-200, too big) says nothing about the next one.
        // Only when no instance answered 200 does the outcome depend on why: any 5xx or network error
        // is worth another try (ScrapeUnavailable), every instance answering "absent" is NotFound.
        const failures: Array<string> = []
        const absences: Array<string> = []
        for (const address of addresses) {
          const fetched = yield* fetchFrom(address, path, limits, agent)
          if (fetched._tag === "Absent") {
            absences.push(fetched.reason)
            continue
          }
          if (fetched._tag === "Failed") {
            failures.push(fetched.reason)
            continue
          }
          const sha256 = createHash("sha256").update(fetched.body).digest("hex")
          yield* write({ bucket: buckets.openApi, name: objectName, description: `OpenAPI document from ${path}`, data: fetched.body }).pipe(
            Effect.mapError((cause) => new ScrapeUnavailable({ message: `could not store the document: ${String(cause)}` }))
          )
          return { _tag: "Captured", objectName, sizeBytes: fetched.body.byteLength, sha256 } satisfies ScrapeOutcome
        }
        if (failures.length > 0) return yield* new ScrapeUnavailable({ message: failures.join("; ") })
        const reason = absences.length === 0 ? "no running instance to scrape" : absences.join("; ")
        return { _tag: "NotFound", reason } satisfies ScrapeOutcome
      }).pipe(Effect.withSpan("openapi.scrape", { captureStackTrace: false, attributes: { objectName, path } }))
  })

export const HttpOpenApiScraperLive = (limits: ScrapeLimits) =>
  Layer.scoped(
    OpenApiScraper,
    Effect.gen(function* () {
      const { nc, jsm, publisher, replication } = yield* Nats
      const store = yield* Effect.tryPromise({
        try: () => new Objm(nc).create(buckets.openApi, { replicas: replication.replicas }),
        catch: (cause) => new ScrapeUnavailable({ message: `could not open the OpenAPI store: ${String(cause)}` })
      })
      const agent = yield* Effect.acquireRelease(Effect.sync(keepAliveAgent), (opened) => Effect.sync(() => opened.destroy()))
      return makeHttpOpenApiScraper((put) => putObject(publisher, jsm, store, put), limits, agent)
    })
  )
