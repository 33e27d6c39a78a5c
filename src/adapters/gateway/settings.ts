/**
 * The gateway's limits and deadlines, read from the environment with defaults (the README's Gateway
 * table). The Gateway layer reads them itself, so main.ts wires it with a port and host only; tests
 * pass overrides through GatewayOptions.settings. A value that does not parse, or limits that
 * contradict each other, fail the start with the variable's name.
 */
import { Config, ConfigError, Duration, Either } from "effect"
import { parseTrustedProxies, type TrustedProxies } from "./proxy/trustedProxies.js"

export interface GatewaySettings {
  /** How long an instance may take to send its response headers once it has the request (504 after). */
  readonly upstreamTimeout: Duration.Duration
  /**
   * A connection (keep-alive client socket, upgrade tunnel, streaming body) with no traffic either way
   * for this long is closed.
   */
  readonly idleTimeout: Duration.Duration
  /** Client connections open at once; further ones are closed as they arrive. */
  readonly maxConnections: number
  /** Largest request head (request line and headers) in bytes; a larger one is answered 431. */
  readonly maxHeaderBytes: number
  /** Largest request body in bytes: a larger Content-Length is answered 413, a chunked body is cut off. */
  readonly maxBodyBytes: number
  /** How long a client may take to send a complete request head (slowloris); 408 after. */
  readonly headersTimeout: Duration.Duration
  /** How long a client may take to send a whole request, head and body; 408 after. */
  readonly requestTimeout: Duration.Duration
  /** Direct peers whose X-Forwarded-* / Forwarded / X-Real-IP headers are believed. */
  readonly trustedProxies: TrustedProxies
  /**
   * Tag each response with X-Berth-Deployment (the deployment that answered). Off by default: it tells
   * anyone on the internet which deployment ids a project has; turn it on to debug routing.
   */
  readonly debugHeaders: boolean
}

const positiveDuration = (name: string, fallback: Duration.Duration) =>
  Config.duration(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a duration longer than zero (e.g. "30 seconds")`, validation: (d) => Duration.toMillis(d) > 0 })
  )

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 })
  )

const trustedProxies = Config.string("BERTH_GATEWAY_TRUSTED_PROXIES").pipe(
  Config.withDefault(""),
  Config.mapOrFail((text) =>
    Either.mapLeft(parseTrustedProxies(text), (reason) =>
      ConfigError.InvalidData([], `BERTH_GATEWAY_TRUSTED_PROXIES: ${reason}; expected comma-separated IP addresses or CIDR networks`)
    )
  )
)

/** Node refuses a headers timeout longer than the request timeout; say so with the variables' names. */
export const settingsProblem = (settings: GatewaySettings): string | null =>
  Duration.greaterThan(settings.headersTimeout, settings.requestTimeout)
    ? `BERTH_GATEWAY_HEADERS_TIMEOUT (${Duration.format(settings.headersTimeout)}) must not be longer than BERTH_GATEWAY_REQUEST_TIMEOUT (${Duration.format(settings.requestTimeout)})`
    : null

export const defaultGatewaySettings: GatewaySettings = {
  upstreamTimeout: Duration.seconds(30),
  idleTimeout: Duration.minutes(5),
  maxConnections: 10_000,
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 10 * 1024 * 1024,
  headersTimeout: Duration.seconds(20),
  requestTimeout: Duration.minutes(5),
  trustedProxies: parseTrustedProxies("").pipe(Either.getOrThrow),
  debugHeaders: false
}

export const gatewaySettings: Config.Config<GatewaySettings> = Config.all({
  upstreamTimeout: positiveDuration("BERTH_GATEWAY_UPSTREAM_TIMEOUT", defaultGatewaySettings.upstreamTimeout),
  idleTimeout: positiveDuration("BERTH_GATEWAY_IDLE_TIMEOUT", defaultGatewaySettings.idleTimeout),
  maxConnections: positiveInt("BERTH_GATEWAY_MAX_CONNECTIONS", defaultGatewaySettings.maxConnections),
  maxHeaderBytes: positiveInt("BERTH_GATEWAY_MAX_HEADER_SIZE", defaultGatewaySettings.maxHeaderBytes),
  maxBodyBytes: positiveInt("BERTH_GATEWAY_MAX_BODY", defaultGatewaySettings.maxBodyBytes),
  headersTimeout: positiveDuration("BERTH_GATEWAY_HEADERS_TIMEOUT", defaultGatewaySettings.headersTimeout),
  requestTimeout: positiveDuration("BERTH_GATEWAY_REQUEST_TIMEOUT", defaultGatewaySettings.requestTimeout),
  trustedProxies,
  debugHeaders: Config.boolean("BERTH_GATEWAY_DEBUG_HEADERS").pipe(Config.withDefault(defaultGatewaySettings.debugHeaders))
}).pipe(
  Config.mapOrFail((settings) => {
    const problem = settingsProblem(settings)
    return problem === null ? Either.right(settings) : Either.left(ConfigError.InvalidData([], problem))
  })
)
