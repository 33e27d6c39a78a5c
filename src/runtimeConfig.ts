/**
 * Where Berth's parts are: external services when their URLs are given, otherwise the ones
 * `npm start` runs itself under the data dir. Read with Config, validated at start.
 */
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Config, ConfigError, Duration, Either, Option, type Redacted } from "effect"
import { isNatsUrlList } from "./nats/servers.js"
import { type BerthRole, parseRoles } from "./roles/roles.js"

export interface RuntimeConfig {
  readonly natsUrl: Option.Option<string>
  readonly databaseUrl: Option.Option<string>
  readonly kraneUrl: Option.Option<string>
  /** Bearer token Berth's Krane client sends (KRANE_TOKEN); set by `npm start` for its own krane-local. */
  readonly kraneToken: Option.Option<Redacted.Redacted<string>>
  readonly apiPort: number
  readonly apiHost: string
  readonly gatewayPort: number
  readonly gatewayHost: string
  /** Preferred port of the krane-local Berth starts when KRANE_URL is not given. */
  readonly kraneLocalPort: number
  readonly dataDir: string
  /** The roles this `berth up` runs (BERTH_ROLES or --roles; default all). */
  readonly roles: ReadonlyArray<BerthRole>
  /** Longest a PostgreSQL statement may run (statement_timeout) and a connection may take to open. */
  readonly statementTimeout: Duration.Duration
  readonly connectTimeout: Duration.Duration
}

const url = (name: string, schemes: ReadonlyArray<string>) =>
  Config.option(
    Config.string(name).pipe(
      Config.validate({
        message: `${name} must be a URL starting with ${schemes.join(" or ")}`,
        validation: (value) => schemes.some((scheme) => value.startsWith(scheme))
      })
    )
  )

/** One server, or several of one cluster, comma-separated (src/nats/servers.ts). */
const natsUrl = Config.option(
  Config.string("NATS_URL").pipe(
    Config.validate({
      message: "NATS_URL must be a URL starting with nats://, tls://, ws:// or wss://, or several of them separated by commas",
      validation: isNatsUrlList
    })
  )
)

export const runtimeConfig: Config.Config<RuntimeConfig> = Config.all({
  natsUrl,
  databaseUrl: url("DATABASE_URL", ["postgres://", "postgresql://"]),
  kraneUrl: url("KRANE_URL", ["http://", "https://"]),
  kraneToken: Config.option(Config.redacted("KRANE_TOKEN")),
  apiPort: Config.port("BERTH_API_PORT").pipe(Config.withDefault(8787)),
  apiHost: Config.string("BERTH_API_HOST").pipe(Config.withDefault("127.0.0.1")),
  gatewayPort: Config.port("BERTH_GATEWAY_PORT").pipe(Config.withDefault(8788)),
  gatewayHost: Config.string("BERTH_GATEWAY_HOST").pipe(Config.withDefault("127.0.0.1")),
  kraneLocalPort: Config.port("BERTH_KRANE_LOCAL_PORT").pipe(Config.withDefault(7070)),
  dataDir: Config.string("BERTH_DATA_DIR").pipe(Config.withDefault(".berth")),
  roles: Config.string("BERTH_ROLES").pipe(
    Config.withDefault("all"),
    Config.mapOrFail((text) =>
      Either.mapLeft(parseRoles(text), (message) => ConfigError.InvalidData(["BERTH_ROLES"], `BERTH_ROLES: ${message}`))
    )
  ),
  statementTimeout: Config.duration("BERTH_PG_STATEMENT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  connectTimeout: Config.duration("BERTH_PG_CONNECT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5)))
})

/** The checkout: a relative BERTH_DATA_DIR is under it, whatever the working directory. */
export const projectRoot: string = fileURLToPath(new URL("..", import.meta.url))

/** The data dir as an absolute path. */
export const dataDirOf = (config: Pick<RuntimeConfig, "dataDir">): string => resolve(projectRoot, config.dataDir)

/** Preferred ports for the servers Berth starts itself; taken ports fall back to free ones. */
export const localPorts = { nats: 4322, natsRoutes: 6322, postgres: 5442 } as const
