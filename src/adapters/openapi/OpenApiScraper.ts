/**
 * The OpenAPI scrape port: fetch a deployment's OpenAPI document from one of its instances and keep it.
 * A missing document is an outcome, not an error: scraping never fails a deployment.
 */
import { Context, Data, type Effect } from "effect"

export type ScrapeOutcome =
  | { readonly _tag: "Captured"; readonly objectName: string; readonly sizeBytes: number; readonly sha256: string }
  | { readonly _tag: "NotFound"; readonly reason: string }

/** Every instance failed in a way worth another try (refused, timed out, 5xx). */
export class ScrapeUnavailable extends Data.TaggedError("ScrapeUnavailable")<{ readonly message: string }> {}

export interface OpenApiScraperApi {
  /** Stores the document as `objectName` (`<projectId>/<deploymentId>`: two projects never share one). */
  readonly scrape: (
    objectName: string,
    addresses: ReadonlyArray<string>,
    path: string
  ) => Effect.Effect<ScrapeOutcome, ScrapeUnavailable>
}

export class OpenApiScraper extends Context.Tag("berth/OpenApiScraper")<OpenApiScraper, OpenApiScraperApi>() {}
