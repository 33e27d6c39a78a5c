/**
 * What a role process is told about the world: where NATS, PostgreSQL and Krane are, where to listen.
 */
import { Data, Layer, type Redacted } from "effect"
import type { OrchestratorSettings } from "../../config.js"
import type { NatsClientAuth } from "../../nats/natsAuth.js"
import type { DatabaseOptions } from "../../projections/Database.js"
import type { BerthRole } from "../roles.js"

export interface RoleEndpoints {
  readonly natsUrl: string
  /** Absolute: where local credentials live (the API's admin-token file). */
  readonly dataDir: string
  /** The role's own NATS user (NATS_CREDS / NATS_USER + NATS_PASSWORD / NATS_TOKEN, NATS_INBOX_PREFIX). */
  readonly natsAuth: NatsClientAuth
  readonly databaseUrl?: string
  readonly kraneUrl?: string
  /** Sent to Krane as a bearer token (KRANE_TOKEN). */
  readonly kraneToken?: Redacted.Redacted<string>
  readonly database: DatabaseOptions
  readonly api: { readonly port: number; readonly host: string }
  readonly gateway: { readonly port: number; readonly host: string }
  readonly orchestrator: OrchestratorSettings
  /** The projector empties the read model and replays BERTH_EVENTS before it reports ready. */
  readonly rebuildReadModel: boolean
}

/** What a started role tells its supervisor besides "ready". */
export interface RoleStarted {
  readonly url?: string
  /** The orchestrator: whether it runs partitioned, and how (the start banner shows it). */
  readonly partitions?: string
}

/** A role started without a URL it needs. */
export class MissingEndpoint extends Data.TaggedError("MissingEndpoint")<{ readonly role: BerthRole; readonly variable: string }> {
  override get message(): string {
    return `the ${this.role} role needs ${this.variable}`
  }
}

/** Builds a layer from a URL the role needs, or fails naming the variable. */
export const requireUrl =
  (value: string | undefined, variable: string, role: BerthRole) =>
  <A, E, R>(build: (url: string) => Layer.Layer<A, E, R>): Layer.Layer<A, E | MissingEndpoint, R> =>
    value === undefined ? Layer.fail(new MissingEndpoint({ role, variable })) : build(value)
