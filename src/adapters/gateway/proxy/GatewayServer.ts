/**
 * The gateway's HTTP server: answers each request (and upgrade) for the deployment that owns its Host,
 * round robin over the deployment's instances, through one keep-alive agent. Lives for a scope: on
 * close it stops accepting, lets requests in flight finish for a bounded time, then cuts what is left.
 */
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import type { Duplex } from "node:stream"
import { Duration, Effect, Runtime, type Scope } from "effect"
import type { Nats } from "../../../eventstore/Nats.js"
import { GatewayError } from "../GatewayError.js"
import { hostnameOf, RoundRobin, type RouteTarget } from "../RouteIndex.js"
import { watchRoutes, type RouteWatcher } from "../RouteWatcher.js"
import { forwardRequest, type ProxyContext } from "./forward.js"
import { rejectUpgrade, sendProblem } from "./problems.js"
import { tunnelUpgrade } from "./tunnel.js"

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
      maxReplayBytes: options.maxReplayBytes ?? 1024 * 1024,
      warn: (message, annotations) => Runtime.runFork(runtime)(Effect.logWarning(message).pipe(Effect.annotateLogs(annotations))),
      markDown: (address) => roundRobin.markDown(address),
      markUp: (address) => roundRobin.markUp(address)
    }
    const tunnels = new Set<Socket>()
    const track = (socket: Socket) => {
      tunnels.add(socket)
      socket.once("close", () => tunnels.delete(socket))
    }

    const onRequest = (request: IncomingMessage, response: ServerResponse) => {
      const resolution = resolve(routes, request.headers.host)
      if ("status" in resolution) return sendProblem(response, resolution.status, resolution.detail)
      const { target } = resolution
      forwardRequest(context, request, response, target, roundRobin.order(target.deploymentId, target.upstreams))
    }
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const resolution = resolve(routes, request.headers.host)
      if ("status" in resolution) return rejectUpgrade(socket, resolution.status, resolution.detail)
      const { target } = resolution
      tunnelUpgrade(context, request, socket, head, target, roundRobin.order(target.deploymentId, target.upstreams), track)
    }

    const server = createServer(onRequest)
    server.on("upgrade", onUpgrade)
    server.on("connection", (socket: Socket) => socket.setNoDelay(true))
    const address = yield* Effect.acquireRelease(listen(server, options.port, options.host), () =>
      shutdown(server, tunnels, agent, options.shutdownGrace ?? Duration.seconds(5))
    )
    const host = options.host === undefined || options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`
    yield* Effect.logInfo(`gateway listening on ${url}`)
    return { url, port: address.port }
  })
