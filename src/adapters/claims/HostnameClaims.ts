/**
 * The hostname claims port (tenant isolation): one owner project per hostname, first owner wins.
 * The orchestrator claims a decision's hostnames before recording it (src/domain/claims.ts says
 * which); the gateway routes a hostname only to the project holding its claim (ClaimWatcher.ts).
 * Claims are never released: there is no project deletion yet, and a hostname a project once used
 * must not pass to another tenant while clients may still cache it.
 */
import { Context, Data, type Effect } from "effect"

/** The claims store could not be reached or answered: worth retrying. */
export class ClaimsUnavailable extends Data.TaggedError("ClaimsUnavailable")<{ readonly message: string }> {}

export interface HostnameClaimsApi {
  /**
   * Claims every hostname for `projectId`, atomically per hostname (first owner wins; claiming one
   * the project already holds succeeds). Returns the hostnames another project holds (sorted); the
   * others are then held by `projectId`.
   */
  readonly claim: (projectId: string, hostnames: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, ClaimsUnavailable>
}

export class HostnameClaims extends Context.Tag("berth/HostnameClaims")<HostnameClaims, HostnameClaimsApi>() {}

/**
 * The KV key of a hostname. Berth's hostnames (lowercase DNS names) are valid KV keys as they are,
 * which keeps the bucket readable with `nats kv`; anything else is hex-encoded behind the prefix
 * `_x.`, which no hostname has (Berth's labels never start with `_`).
 */
export const claimKey = (hostname: string): string =>
  /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(hostname)
    ? hostname
    : `_x.${Buffer.from(hostname, "utf8").toString("hex")}`

/** The marker a finished backfill leaves (not a hostname: it has no dot). */
export const backfillMarker = "_backfilled-v1"
