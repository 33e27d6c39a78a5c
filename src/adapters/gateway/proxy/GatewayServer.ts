/**
 * The gateway's HTTP server: answers each request (and upgrade) for the deployment that owns its Host,
 * round robin over the deployment's instances, through one keep-alive agent. Lives for a scope: on
 * close it stops accepting, lets requests in flight finish for a bounded time, then cuts what is left.
 *
 * Hardened with the settings in ../settings.ts: a cap on connections (further ones are dropped as they
 * arrive), on the request head (431) and body (413); deadlines for the head (slowloris) and the whole
 * request (408), for an instance's response headers (504, forward.ts) and for silence on a connection
 * (the idle timeout: keep-alive sockets, stalled bodies, tunnels). Node answers a bad request head
 * before any request exists; those answers go out as problem documents too.
 */
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import type { Duplex } from "node:stream"
import { Duration, Effect, Runtime, type Scope } from "effect"
import type { Nats } from "../../../nats/Nats.js"
import { GatewayError } from "../GatewayError.js"
import { hostnameOf, RoundRobin, type RouteTarget } from "../RouteIndex.js"
import { watchRoutes, type RouteWatcher } from "../RouteWatcher.js"
import { gatewaySettings, type GatewaySettings, settingsProblem } from "../settings.js"
import { declaredBodyTooLarge, forwardRequest, type ProxyContext } from "./forward.js"
import { sendProblem, sendRawProblem } from "./problems.js"
import { tunnelUpgrade } from "./tunnel.js"
import { errorCode } from "./upstreams.js"

export interface GatewayOptions {
  /** 0 picks a free port. */
  readonly port: number
  /** Interface to listen on; all of them when absent. */
  readonly host?: string
  /** How long requests in flight may take to finish when the gateway stops (5 s). */
  readonly shutdownGrace?: Duration.DurationInput
  /** How long an instance may take to accept a connection before the next is tried (5 s). */
  readonly connectTimeout?: Duration.DurationInput
  /** How long an instance that refused is tried only after the others (5 s). */
  readonly refusedCooldown?: Duration.DurationInput
  /** How often the route watch is checked for a stall (5 s). */
  readonly routeStallCheck?: Duration.DurationInput
  /** Largest request body held in memory so a failed attempt can go to another instance (1 MiB). */
  readonly maxReplayBytes?: number
  /** Overrides of the BERTH_GATEWAY_* settings (../settings.ts); what is left out is read from the environment. */
  readonly settings?: Partial<GatewaySettings>
}

export interface GatewayAddress {
  readonly url: string
  readonly port: number
}

/** Which target serves a request, or the problem to answer instead. */
type Resolution = { readonly target: RouteTarget } | { readonly status: 404 | 503; readonly detail: string }

const resolve = (routes: RouteWatcher, host: string | undefined): Resolution => {
  const target = routes.lookup(host)
  if (target === undefined) return { status: 404, detail: `no deployment serves host ${hostnameOf(host)}` }
  if (target.upstreams.length === 0) {
    return { status: 503, detail: `deployment ${target.deploymentId} serving host ${target.hostname} has no running instances` }
  }
  return { target }
}

/** The status Node's HTTP parser errors deserve, or null when the connection is just cut. */
const clientErrorStatus = (code: string): 400 | 408 | 413 | 431 | null => {
  if (code === "HPE_HEADER_OVERFLOW") return 431
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") return 408
  if (code === "HPE_CHUNK_EXTENSIONS_OVERFLOW") return 413
  return code.startsWith("HPE_") ? 400 : null
}

const clientErrorDetail = (status: 400 | 408 | 413 | 431, settings: GatewaySettings, cause: string): string => {
  switch (status) {
    case 431:
      return `request head is larger than the gateway's limit of ${settings.maxHeaderBytes} bytes`
    case 408:
      return `request was not received within ${Duration.format(settings.headersTimeout)} (head) / ${Duration.format(settings.requestTimeout)} (whole request)`
    case 413:
      return "request chunk extensions are too large"
    case 400:
      return `malformed request: ${cause}`
  }
}

/** The BERTH_GATEWAY_* settings from the environment, with the caller's overrides; fails naming the variable. */
const readSettings = (overrides: Partial<GatewaySettings> | undefined): Effect.Effect<GatewaySettings, GatewayError> =>
  Effect.gen(function* () {
    const invalid = (cause: string) => new GatewayError({ operation: "read the gateway settings", cause })
    const fromEnvironment = yield* Effect.mapError(gatewaySettings, (error) => invalid(String(error)))
    const settings: GatewaySettings = { ...fromEnvironment, ...overrides }
    const problem = settingsProblem(settings)
    return problem === null ? settings : yield* invalid(problem)
  })

const listen = (server: Server, port: number, host: string | undefined) =>
  Effect.async<AddressInfo, GatewayError>((resume) => {
    const onError = (cause: Error) => resume(Effect.fail(new GatewayError({ operation: `listen on port ${port}`, cause })))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resume(Effect.succeed(server.address() as AddressInfo))
    })
  })

/** Stop accepting; wait (bounded) for connections in flight to finish; then close whatever remains. */
const shutdown = (server: Server, tunnels: Set<Socket>, agent: Agent, grace: Duration.DurationInput) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    // Idle kept-alive connections would hold close() open; ones that become idle are closed as they do.
    server.closeIdleConnections()
    const sweep = setInterval(() => server.closeIdleConnections(), 50)
    return Effect.sync(() => clearInterval(sweep))
  }).pipe(
    Effect.timeout(grace),
    Effect.catchTag("TimeoutException", () => Effect.logWarning("gateway: requests still in flight at shutdown; closing them")),
    Effect.ensuring(
      Effect.sync(() => {
        server.closeAllConnections()
        for (const socket of tunnels) socket.destroy()
        agent.destroy()
      })
    )
  )

/**
 * Serves the route table from the `berth_routes` KV bucket on `options.port` until the scope closes.
 * Listens once the tables present at start have been read (or after 10 s, with a warning).
 */
export const startGateway = (options: GatewayOptions): Effect.Effect<GatewayAddress, GatewayError, Scope.Scope | Nats> =>
  Effect.gen(function* () {
    const settings = yield* readSettings(options.settings)
    const routes = yield* watchRoutes(options.routeStallCheck === undefined ? {} : { stallCheck: options.routeStallCheck })
    yield* routes.ready.pipe(
      Effect.timeout(Duration.seconds(10)),
      Effect.catchTag("TimeoutException", () => Effect.logWarning("gateway: route table not read yet; serving anyway"))
    )
    const runtime = yield* Effect.runtime<never>()
    const agent = new Agent({ keepAlive: true, keepAliveMsecs: 1_000 })
    const roundRobin = new RoundRobin(Duration.toMillis(options.refusedCooldown ?? Duration.seconds(5)))
    const context: ProxyContext = {
      agent,
      connectTimeoutMs: Duration.toMillis(options.connectTimeout ?? Duration.seconds(5)),
      upstreamTimeoutMs: Duration.toMillis(settings.upstreamTimeout),
      idleTimeoutMs: Duration.toMillis(settings.idleTimeout),
      maxReplayBytes: options.maxReplayBytes ?? 1024 * 1024,
      maxBodyBytes: settings.maxBodyBytes,
      forwarding: { scheme: "http", trustedProxies: settings.trustedProxies },
      debugHeaders: settings.debugHeaders,
      warn: (message, annotations) => Runtime.runFork(runtime)(Effect.logWarning(message).pipe(Effect.annotateLogs(annotations))),
      markDown: (address) => roundRobin.markDown(address),
      markUp: (address) => roundRobin.markUp(address)
    }
    const tunnels = new Set<Socket>()
    const track = (socket: Socket) => {
      tunnels.add(socket)
      socket.once("close", () => tunnels.delete(socket))
    }

    // The response in progress on each client socket: what a parser error or a silent socket interrupts.
    const responses = new WeakMap<Duplex, ServerResponse>()

    const onRequest = (request: IncomingMessage, response: ServerResponse) => {
      responses.set(request.socket, response)
      const resolution = resolve(routes, request.headers.host)
      if ("status" in resolution) return sendProblem(response, resolution.status, resolution.detail)
      const { target } = resolution
      forwardRequest(context, request, response, target, roundRobin.order(target.deploymentId, target.upstreams))
    }
    // Expect: 100-continue: a body over the cap is refused before the client sends it.
    const onCheckContinue = (request: IncomingMessage, response: ServerResponse) => {
      const tooLarge = declaredBodyTooLarge(request, settings.maxBodyBytes)
      if (tooLarge !== null) {
        responses.set(request.socket, response)
        return sendProblem(response, 413, tooLarge, { close: true })
      }
      response.writeContinue()
      onRequest(request, response)
    }
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const resolution = resolve(routes, request.headers.host)
      if ("status" in resolution) return sendRawProblem(socket, resolution.status, resolution.detail)
      const { target } = resolution
      tunnelUpgrade(context, request, socket, head, target, roundRobin.order(target.deploymentId, target.upstreams), track)
    }
    const answered = new WeakSet<Duplex>()
    const onClientError = (error: Error, socket: Duplex) => {
      const code = errorCode(error)
      const status = clientErrorStatus(code)
      const current = responses.get(socket)
      const midResponse = current !== undefined && current.headersSent && !current.writableEnded
      if (status === null || midResponse || answered.has(socket)) return void socket.destroy()
      answered.add(socket)
      sendRawProblem(socket, status, clientErrorDetail(status, settings, code))
    }
    // A socket silent for the idle timeout is closed, unless its complete request is still waiting for
    // the instance's response headers: the upstream timeout bounds that wait, whichever is longer.
    const onTimeout = (socket: Socket) => {
      const current = responses.get(socket)
      const awaitingUpstream = current !== undefined && !current.headersSent && !current.writableEnded && current.req.complete
      if (!awaitingUpstream) socket.destroy()
    }
    let dropped = 0
    let dropWarnedAt = 0
    const onDrop = () => {
      dropped++
      const now = Date.now()
      if (now - dropWarnedAt < 10_000) return
      dropWarnedAt = now
      context.warn("gateway: connection limit reached; closing new connections", { maxConnections: settings.maxConnections, dropped })
      dropped = 0
    }

    const idleTimeoutMs = Duration.toMillis(settings.idleTimeout)
    const headersTimeoutMs = Duration.toMillis(settings.headersTimeout)
    const server = createServer(
      {
        maxHeaderSize: settings.maxHeaderBytes,
        headersTimeout: headersTimeoutMs,
        requestTimeout: Duration.toMillis(settings.requestTimeout),
        // Node checks the two deadlines above on this interval (30 s by default, too coarse for short ones).
        connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4)))
      },
      onRequest
    )
    server.maxConnections = settings.maxConnections
    server.keepAliveTimeout = idleTimeoutMs
    server.timeout = idleTimeoutMs
    server.on("checkContinue", onCheckContinue)
    server.on("upgrade", onUpgrade)
    server.on("clientError", onClientError)
    server.on("timeout", onTimeout)
    server.on("drop", onDrop)
    server.on("connection", (socket: Socket) => socket.setNoDelay(true))
    const address = yield* Effect.acquireRelease(listen(server, options.port, options.host), () =>
      shutdown(server, tunnels, agent, options.shutdownGrace ?? Duration.seconds(5))
    )
    const host = options.host === undefined || options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`
    yield* Effect.logInfo(`gateway listening on ${url}`)
    return { url, port: address.port }
  })
