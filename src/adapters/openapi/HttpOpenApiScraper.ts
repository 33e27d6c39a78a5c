/**
 * Scrapes `http://<instance address><path>` (Unkey S0's local mode), with a timeout, no redirects and a
 * size cap, and keeps the document in the JetStream object store (the log holds only its digest:
 * documents can be megabytes, far above a sensible event size).
 */
import { createHash } from "node:crypto"
import { Objm, type ObjectStore } from "@nats-io/obj"
import { Duration, Effect, Layer } from "effect"
import { Nats } from "../../nats/Nats.js"
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

const readCapped = async (response: Response, maxBytes: number): Promise<Uint8Array | null> => {
  const reader = response.body?.getReader()
  if (reader === undefined) return new Uint8Array()
  const chunks: Array<Uint8Array> = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel()
      return null
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}

const fetchFrom = async (address: string, path: string, limits: ScrapeLimits): Promise<Fetched> => {
  const url = `http://${address}${path}`
  try {
    const response = await fetch(url, {
      redirect: "manual",
      signal: AbortSignal.timeout(Duration.toMillis(limits.timeout))
    })
    if (response.status === 404) return { _tag: "Absent", reason: `${path} answered 404 on ${address}` }
    if (response.status !== 200) {
      await response.body?.cancel()
      const reason = `unexpected status ${response.status} from ${url}`
      return response.status >= 500 ? { _tag: "Failed", reason } : { _tag: "Absent", reason }
    }
    const body = await readCapped(response, limits.maxBytes)
    if (body === null) return { _tag: "Absent", reason: `openapi spec exceeds maximum size of ${limits.maxBytes} bytes` }
    return { _tag: "Body", body }
  } catch (error) {
    return { _tag: "Failed", reason: `${url}: ${error instanceof Error ? error.message : String(error)}` }
  }
}

export const makeHttpOpenApiScraper = (store: ObjectStore, limits: ScrapeLimits) =>
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
          const fetched = yield* Effect.promise(() => fetchFrom(address, path, limits))
          if (fetched._tag === "Absent") {
            absences.push(fetched.reason)
            continue
          }
          if (fetched._tag === "Failed") {
            failures.push(fetched.reason)
            continue
          }
          const sha256 = createHash("sha256").update(fetched.body).digest("hex")
          yield* Effect.tryPromise({
            try: () => store.putBlob({ name: objectName, description: `OpenAPI document from ${path}` }, fetched.body),
            catch: (cause) => new ScrapeUnavailable({ message: `could not store the document: ${String(cause)}` })
          })
          return { _tag: "Captured", objectName, sizeBytes: fetched.body.byteLength, sha256 } satisfies ScrapeOutcome
        }
        if (failures.length > 0) return yield* new ScrapeUnavailable({ message: failures.join("; ") })
        const reason = absences.length === 0 ? "no running instance to scrape" : absences.join("; ")
        return { _tag: "NotFound", reason } satisfies ScrapeOutcome
      }).pipe(Effect.withSpan("openapi.scrape", { attributes: { objectName, path } }))
  })

export const HttpOpenApiScraperLive = (limits: ScrapeLimits) =>
  Layer.effect(
    OpenApiScraper,
    Effect.gen(function* () {
      const { nc, replication } = yield* Nats
      const store = yield* Effect.tryPromise({
        try: () => new Objm(nc).create(buckets.openApi, { replicas: replication.replicas }),
        catch: (cause) => new ScrapeUnavailable({ message: `could not open the OpenAPI store: ${String(cause)}` })
      })
      return makeHttpOpenApiScraper(store, limits)
    })
  )
