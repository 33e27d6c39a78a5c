/**
 * Fixtures for the gateway tests: real upstream HTTP servers (answering who they are and what they
 * saw, echoing bodies and upgrades, answering late, trickling or stalling), a port nothing listens
 * on, an HTTP client that sets Host, raw TCP connections for what HTTP clients will not send, and
 * route tables written straight into the `berth_routes` KV bucket in the RoutingService's shape.
 */
import { createHash } from "node:crypto"
import { createServer, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http"
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net"
import type { JetStreamManager } from "@nats-io/jetstream"
import { Bucket, Kvm, type KV } from "@nats-io/kv"
import { Context, Effect, Layer } from "effect"
import { claimKey } from "../../../src/adapters/claims/HostnameClaims.js"
import { hostnameOf } from "../../../src/adapters/gateway/RouteIndex.js"
import type { StoredRouteTable } from "../../../src/adapters/routing/RoutingService.js"
import { startGateway, type GatewayAddress, type GatewayOptions } from "../../../src/adapters/gateway/proxy/GatewayServer.js"
import { Nats } from "../../../src/nats/Nats.js"
import { buckets } from "../../../src/nats/subjects.js"

export interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
}

export interface Upstream {
  readonly name: string
  readonly address: string
  readonly seen: ReadonlyArray<SeenRequest>
  /** URLs of requests whose body was cut off before its end (the sender aborted). */
  readonly aborted: ReadonlyArray<string>
  close(): Promise<void>
}

/** What an upstream answers to a plain request (JSON). */
export interface Answer {
  readonly name: string
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly bodyBytes: number
  readonly bodySha256: string
}

/**
 * An instance: `/echo` streams the request body back as it arrives; `/trickle?every=<ms>&count=<n>`
 * sends its headers at once, then `tick;` every `every` ms, `count` times, then ends; `/stall` sends
 * its headers and one `tick;`, then nothing; `?delay=<ms>` answers late; any other request is
 * answered with an Answer. An upgrade gets a 101 and its bytes echoed.
 */
export const startUpstream = async (name: string): Promise<Upstream> => {
  const seen: Array<SeenRequest> = []
  const aborted: Array<string> = []
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const server = createServer((request, response) => {
    seen.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers })
    request.once("close", () => {
      if (!request.complete) aborted.push(request.url ?? "")
    })
    const url = new URL(request.url ?? "/", "http://upstream")
    if (url.pathname === "/echo") {
      response.writeHead(200, { "content-type": "application/octet-stream", "x-upstream": name })
      request.pipe(response)
      return
    }
    if (url.pathname === "/trickle" || url.pathname === "/stall") {
      const every = Number(url.searchParams.get("every") ?? "100")
      let left = url.pathname === "/stall" ? 1 : Number(url.searchParams.get("count") ?? "1")
      response.writeHead(200, { "content-type": "text/plain", "x-upstream": name }).write("tick;")
      left--
      if (url.pathname === "/stall") return
      const timer = setInterval(() => {
        if (left-- > 0) return void response.write("tick;")
        clearInterval(timer)
        timers.delete(timer)
        response.end()
      }, every)
      timers.add(timer)
      response.once("close", () => {
        clearInterval(timer)
        timers.delete(timer)
      })
      return
    }
    const hash = createHash("sha256")
    let bytes = 0
    request.on("data", (chunk: Buffer) => {
      bytes += chunk.length
      hash.update(chunk)
    })
    request.on("end", () => {
      const answer: Answer = {
        name,
        method: request.method ?? "",
        url: request.url ?? "",
        headers: request.headers,
        bodyBytes: bytes,
        bodySha256: hash.digest("hex")
      }
      setTimeout(
        () => response.writeHead(200, { "content-type": "application/json", "x-upstream": name }).end(JSON.stringify(answer)),
        Number(url.searchParams.get("delay") ?? "0")
      )
    })
  })
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  server.on("upgrade", (request, socket: Socket, head: Buffer) => {
    seen.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers })
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Upstream: ${name}\r\n\r\n`)
    if (head.length > 0) socket.write(head)
    socket.pipe(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    name,
    address: `127.0.0.1:${port}`,
    seen,
    aborted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearInterval(timer)
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}

/** An upstream for the life of the scope. */
export const upstream = (name: string) =>
  Effect.acquireRelease(
    Effect.promise(() => startUpstream(name)),
    (server) => Effect.promise(() => server.close())
  )

/** host:port of a port that was free a moment ago: connections to it are refused. */
export const refusedAddress = async (): Promise<string> => {
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `127.0.0.1:${port}`
}

/** An instance that accepts connections, reads the request and resets the connection; counts them. */
export const startResetter = async (): Promise<{ readonly address: string; readonly connections: () => number; close(): Promise<void> }> => {
  let connections = 0
  const server = createNetServer((socket) => {
    connections++
    socket.once("data", () => socket.resetAndDestroy())
    socket.on("error", () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

export interface Reply {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  json<T>(): T
}

/** One request on a fresh connection, with the Host given. */
export const call = (
  baseUrl: string,
  host: string,
  options: { readonly method?: string; readonly path?: string; readonly body?: Buffer | string; readonly headers?: OutgoingHttpHeaders } = {}
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const url = new URL(options.path ?? "/", baseUrl)
    const outgoing = httpRequest(url, { method: options.method ?? "GET", headers: { ...options.headers, host }, agent: false }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("error", reject)
      response.on("end", () => {
        const body = Buffer.concat(chunks)
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body, json: <T>() => JSON.parse(body.toString("utf8")) as T })
      })
    })
    outgoing.on("error", reject)
    outgoing.end(options.body)
  })

export const callEffect = (...args: Parameters<typeof call>) => Effect.promise(() => call(...args))

/** A raw TCP connection to the gateway, for what an HTTP client would not send (or not wait for). */
export interface RawConnection {
  readonly socket: Socket
  /** Everything received so far, as text. */
  received(): string
  /** Whether the connection has closed (either side). */
  isClosed(): boolean
  /** Resolves with Date.now() when the connection closes. */
  readonly closed: Promise<number>
}

export const openRaw = (baseUrl: string): Promise<RawConnection> =>
  new Promise((resolve, reject) => {
    const url = new URL(baseUrl)
    const socket = netConnect({ host: url.hostname, port: Number(url.port) })
    let text = ""
    let closedFlag = false
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")))
    const closed = new Promise<number>((done) =>
      socket.once("close", () => {
        closedFlag = true
        done(Date.now())
      })
    )
    socket.once("connect", () => {
      socket.on("error", () => {}) // a reset after the answer is part of what is tested
      resolve({ socket, received: () => text, isClosed: () => closedFlag, closed })
    })
    socket.once("error", reject)
  })

export const openRawEffect = (baseUrl: string) =>
  Effect.acquireRelease(
    Effect.promise(() => openRaw(baseUrl)),
    (connection) => Effect.sync(() => connection.socket.destroy())
  )

/** Writes, ignoring a connection the gateway has already closed. */
export const rawWrite = (connection: RawConnection, data: string | Buffer) =>
  Effect.sync(() => {
    if (!connection.socket.destroyed && connection.socket.writable) connection.socket.write(data)
  })

/** The status line, headers and body of the first HTTP response in `text`. */
export const parseRawResponse = (text: string) => {
  const end = text.indexOf("\r\n\r\n")
  const [statusLine = "", ...lines] = (end === -1 ? text : text.slice(0, end)).split("\r\n")
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim()])
  )
  return { status: Number(statusLine.split(" ")[1] ?? "0"), statusLine, headers, body: end === -1 ? "" : text.slice(end + 4) }
}

/** Writes a project's route table: hostname -> deploymentId, deploymentId -> addresses. */
export const putTable = (
  kv: KV,
  projectId: string,
  hosts: Readonly<Record<string, string>>,
  upstreams: Readonly<Record<string, ReadonlyArray<string>>>,
  basedOnVersion = 1
) => {
  const table: StoredRouteTable = {
    projectId,
    basedOnVersion,
    routes: Object.fromEntries(
      Object.entries(hosts).map(([hostname, deploymentId]) => [hostname, { deploymentId, sticky: "live", environmentId: "env_prod" }])
    ),
    upstreams
  }
  return Effect.promise(async () => {
    await claimHostnames(kv, projectId, Object.keys(hosts))
    await kv.put(projectId, JSON.stringify(table))
  })
}

/**
 * Claims hostnames for a project in `berth_hostnames`, as the orchestrator does before it routes them
 * (first owner wins; a hostname already claimed is left with its owner). The gateway serves a
 * hostname only to the project holding its claim.
 */
export const claimHostnames = async (routes: KV, projectId: string, hostnames: ReadonlyArray<string>): Promise<void> => {
  if (!(routes instanceof Bucket)) throw new Error("claimHostnames needs a KV bucket opened through Kvm")
  const claims = await new Kvm(routes.js).create(buckets.hostnames, { history: 1 })
  for (const hostname of hostnames) {
    await claims.create(claimKey(hostnameOf(hostname)), projectId).catch(() => undefined)
  }
}

export interface GatewayFixture {
  readonly gateway: GatewayAddress
  readonly kv: KV
  readonly jsm: JetStreamManager
}

/** A NATS connection and a gateway on a free port, both for the life of the test's scope. */
export const gatewayFixture = (natsUrl: string, options: Partial<GatewayOptions> = {}) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(Nats.layer(natsUrl))
    const { nc, jsm } = Context.get(context, Nats)
    const kv = yield* Effect.promise(() => new Kvm(nc).create(buckets.routes, { history: 5 }))
    const gateway = yield* startGateway({ port: 0, host: "127.0.0.1", ...options }).pipe(Effect.provide(context))
    return { gateway, kv, jsm } satisfies GatewayFixture
  })

/** Retries `probe` every 25 ms until it holds (up to `withinMs`); returns the time it took. */
export const waitUntil = (probe: Effect.Effect<boolean>, withinMs: number) =>
  Effect.gen(function* () {
    const started = Date.now()
    while (Date.now() - started < withinMs) {
      if (yield* probe) return Date.now() - started
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(new Error(`condition not met within ${withinMs} ms`))
  })

let counter = 0
/** A project id and hostname no other test uses. */
export const unique = (label: string) => {
  counter++
  const suffix = `${label}${counter}${Date.now().toString(36)}`
  return { projectId: `proj_${suffix}`, host: `${suffix}.berth.localhost` }
}
