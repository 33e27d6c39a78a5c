/**
 * Forwards one HTTP request to a deployment's instances, in the given order, streaming both bodies.
 * A request with no body or a small one (held in memory) can be sent again; a larger one streams and
 * is only sent once the connection is up, so a refusing instance has consumed none of it. An attempt
 * that fails before any response byte moves on to the next instance when that is safe (see
 * upstreams.ts); when none answers the client gets a 502 problem.
 *
 * Deadlines and limits: an instance that has the whole request but sends no response headers within
 * the upstream timeout is given up on with a 504 (not retried elsewhere: it may be acting on it); a
 * body declared larger than the cap is answered 413 unread, and a chunked one that grows past it is
 * cut off, the upstream request aborted. A response body that stalls is the idle timeout's business
 * (GatewayServer), as is a client that stops sending its body.
 */
import { request as httpRequest, type Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from "node:http"
import { pipeline, Transform, type TransformCallback } from "node:stream"
import type { RouteTarget } from "../RouteIndex.js"
import { clientResponseHeaders, type ForwardingPolicy, upstreamRequestHeaders } from "./headers.js"
import { sendProblem } from "./problems.js"
import { errorCode, mayFailOver, parseUpstream } from "./upstreams.js"

export interface ProxyContext {
  readonly agent: Agent
  readonly connectTimeoutMs: number
  /** How long an instance may take, once it has the request, to send its response headers. */
  readonly upstreamTimeoutMs: number
  /** A tunnel with no traffic either way for this long is closed. */
  readonly idleTimeoutMs: number
  /** Bodies up to this size (with a Content-Length) are held so a failed attempt can be repeated. */
  readonly maxReplayBytes: number
  /** Largest request body forwarded. */
  readonly maxBodyBytes: number
  readonly forwarding: ForwardingPolicy
  /** Send X-Berth-Deployment with each response (BERTH_GATEWAY_DEBUG_HEADERS). */
  readonly debugHeaders: boolean
  readonly warn: (message: string, annotations: Readonly<Record<string, unknown>>) => void
  /** Told when an instance fails before answering (true: log it, it was thought up) and when it answers. */
  readonly markDown: (address: string) => boolean
  readonly markUp: (address: string) => void
}

type Body =
  | { readonly kind: "none" }
  | { readonly kind: "held"; readonly data: Buffer }
  | { readonly kind: "stream"; readonly chunked: boolean }

const codedError = (message: string, code: string): Error => Object.assign(new Error(message), { code })
const upstreamTimedOut = "BERTH_UPSTREAM_TIMEOUT"
const bodyTooLarge = "BERTH_BODY_TOO_LARGE"

const formatBytes = (bytes: number): string =>
  bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`

const formatMs = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`)

/** The 413 detail when a request's Content-Length is over the cap, else null. */
export const declaredBodyTooLarge = (request: IncomingMessage, maxBodyBytes: number): string | null => {
  const length = Number(request.headers["content-length"] ?? "0")
  return length > maxBodyBytes ? `request body of ${length} bytes is larger than the gateway's limit of ${formatBytes(maxBodyBytes)}` : null
}

/** Passes a streamed body through, failing once more than `max` bytes went by. */
const bodyLimit = (max: number): Transform => {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      seen += chunk.length
      if (seen > max) return done(codedError(`request body larger than ${formatBytes(max)}`, bodyTooLarge))
      done(null, chunk)
    }
  })
}

export const forwardRequest = (
  context: ProxyContext,
  request: IncomingMessage,
  response: ServerResponse,
  target: RouteTarget,
  order: ReadonlyArray<string>
): void => {
  const tooLarge = declaredBodyTooLarge(request, context.maxBodyBytes)
  if (tooLarge !== null) return sendProblem(response, 413, tooLarge, { close: true })
  const chunked = request.headers["transfer-encoding"] !== undefined
  const length = Number(request.headers["content-length"] ?? "0")
  if (!chunked && length === 0) return attempts(context, request, response, target, order, { kind: "none" })
  if (chunked || !(length <= context.maxReplayBytes)) {
    return attempts(context, request, response, target, order, { kind: "stream", chunked })
  }
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.once("end", () => attempts(context, request, response, target, order, { kind: "held", data: Buffer.concat(chunks) }))
  request.once("error", () => response.destroy())
}

const attempts = (
  context: ProxyContext,
  request: IncomingMessage,
  response: ServerResponse,
  target: RouteTarget,
  order: ReadonlyArray<string>,
  body: Body
): void => {
  const method = request.method ?? "GET"
  const failures: Array<string> = []
  let clientGone = response.destroyed || (response.socket?.destroyed ?? false)
  let current: ClientRequest | null = null
  let staleRetries = 1
  response.once("close", () => {
    if (response.writableFinished) return
    clientGone = true
    current?.destroy()
  })

  const tryAt = (index: number): void => {
    if (clientGone) return
    const address = order[index]
    if (address === undefined) {
      return sendProblem(
        response,
        502,
        `no instance of deployment ${target.deploymentId} answered (${failures.join("; ")})`
      )
    }
    const upstream = parseUpstream(address)
    if (upstream === null) {
      failures.push(`${address}: not host:port`)
      return tryAt(index + 1)
    }
    const headers = upstreamRequestHeaders(request, context.forwarding)
    if (body.kind === "stream" && body.chunked) headers["transfer-encoding"] = "chunked"
    const outgoing = httpRequest({ host: upstream.host, port: upstream.port, method, path: request.url ?? "/", headers, agent: context.agent })
    current = outgoing
    let connected = false
    let bodyStarted = false
    let responded = false
    let connectTimer: NodeJS.Timeout | undefined
    let answerTimer: NodeJS.Timeout | undefined

    outgoing.once("socket", (socket) => {
      const onConnect = () => {
        connected = true
        clearTimeout(connectTimer)
        if (body.kind === "stream") {
          bodyStarted = true
          const limit = bodyLimit(context.maxBodyBytes)
          limit.once("error", (error) => {
            request.unpipe(limit)
            request.resume() // discard the rest; the answer closes the connection
            outgoing.destroy(error)
          })
          request.pipe(limit).pipe(outgoing)
        }
      }
      if (!socket.connecting) return onConnect()
      connectTimer = setTimeout(() => outgoing.destroy(codedError("connect timed out", "ETIMEDOUT")), context.connectTimeoutMs)
      socket.once("connect", onConnect)
    })
    // The upstream deadline runs from when the whole request has been handed to the instance.
    outgoing.once("finish", () => {
      if (responded) return
      answerTimer = setTimeout(
        () => outgoing.destroy(codedError(`no response headers within ${formatMs(context.upstreamTimeoutMs)}`, upstreamTimedOut)),
        context.upstreamTimeoutMs
      )
    })
    if (body.kind === "none") outgoing.end()
    else if (body.kind === "held") outgoing.end(body.data)

    outgoing.once("response", (upstreamResponse) => {
      responded = true
      clearTimeout(answerTimer)
      context.markUp(address)
      if (clientGone) return void upstreamResponse.destroy()
      response.writeHead(
        upstreamResponse.statusCode ?? 502,
        upstreamResponse.statusMessage,
        clientResponseHeaders(upstreamResponse, context.debugHeaders ? target.deploymentId : undefined)
      )
      pipeline(upstreamResponse, response, () => {})
    })

    outgoing.on("error", (error) => {
      clearTimeout(connectTimer)
      clearTimeout(answerTimer)
      if (clientGone) return
      const code = errorCode(error)
      if (code === bodyTooLarge) {
        // Cuts the response instead when the instance had already started answering.
        return sendProblem(response, 413, `request body is larger than the gateway's limit of ${formatBytes(context.maxBodyBytes)}`, { close: true })
      }
      if (responded) return
      if (code === upstreamTimedOut) {
        context.warn("gateway: instance did not answer in time", {
          host: target.hostname,
          deploymentId: target.deploymentId,
          upstream: address,
          timeoutMs: context.upstreamTimeoutMs
        })
        return sendProblem(
          response,
          504,
          `instance ${address} of deployment ${target.deploymentId} sent no response within ${formatMs(context.upstreamTimeoutMs)}`
        )
      }
      failures.push(`${address}: ${code}`)
      const replayable = body.kind !== "stream" || !bodyStarted
      const reusedSocket = outgoing.reusedSocket
      if (!(replayable && mayFailOver({ method, connected, reusedSocket, code }))) {
        return sendProblem(response, 502, `instance ${address} of deployment ${target.deploymentId} failed: ${code}`)
      }
      // A kept-alive connection the instance had just closed says nothing about the instance: once, try it again.
      if (reusedSocket && code === "ECONNRESET" && staleRetries-- > 0) return tryAt(index)
      if (context.markDown(address)) {
        context.warn("gateway: instance did not answer; trying the next", {
          host: target.hostname,
          deploymentId: target.deploymentId,
          upstream: address,
          code
        })
      }
      tryAt(index + 1)
    })
  }

  tryAt(0)
}
