/**
 * Forwards one HTTP request to a deployment's instances, in the given order, streaming both bodies.
 * A request with no body or a small one (held in memory) can be sent again; a larger one streams and
 * is only sent once the connection is up, so a refusing instance has consumed none of it. An attempt
 * that fails before any response byte moves on to the next instance when that is safe (see
 * upstreams.ts); when none answers the client gets a 502 problem.
 */
import { request as httpRequest, type Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from "node:http"
import { pipeline } from "node:stream"
import type { RouteTarget } from "../RouteIndex.js"
import { clientResponseHeaders, upstreamRequestHeaders } from "./headers.js"
import { sendProblem } from "./problems.js"
import { errorCode, mayFailOver, parseUpstream } from "./upstreams.js"

export interface ProxyContext {
  readonly agent: Agent
  readonly connectTimeoutMs: number
  /** Bodies up to this size (with a Content-Length) are held so a failed attempt can be repeated. */
  readonly maxReplayBytes: number
  readonly warn: (message: string, annotations: Readonly<Record<string, unknown>>) => void
  /** Told when an instance fails before answering (true: log it, it was thought up) and when it answers. */
  readonly markDown: (address: string) => boolean
  readonly markUp: (address: string) => void
}

type Body =
  | { readonly kind: "none" }
  | { readonly kind: "held"; readonly data: Buffer }
  | { readonly kind: "stream"; readonly chunked: boolean }

const connectTimeout = (): Error => Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" })

export const forwardRequest = (
  context: ProxyContext,
  request: IncomingMessage,
  response: ServerResponse,
  target: RouteTarget,
  order: ReadonlyArray<string>
): void => {
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
    const headers = upstreamRequestHeaders(request)
    if (body.kind === "stream" && body.chunked) headers["transfer-encoding"] = "chunked"
    const outgoing = httpRequest({ host: upstream.host, port: upstream.port, method, path: request.url ?? "/", headers, agent: context.agent })
    current = outgoing
    let connected = false
    let bodyStarted = false
    let responded = false
    let timer: NodeJS.Timeout | undefined

    outgoing.once("socket", (socket) => {
      const onConnect = () => {
        connected = true
        clearTimeout(timer)
        if (body.kind === "stream") {
          bodyStarted = true
          request.pipe(outgoing)
        }
      }
      if (!socket.connecting) return onConnect()
      timer = setTimeout(() => outgoing.destroy(connectTimeout()), context.connectTimeoutMs)
      socket.once("connect", onConnect)
    })
    if (body.kind === "none") outgoing.end()
    else if (body.kind === "held") outgoing.end(body.data)

    outgoing.once("response", (upstreamResponse) => {
      responded = true
      context.markUp(address)
      if (clientGone) return void upstreamResponse.destroy()
      response.writeHead(
        upstreamResponse.statusCode ?? 502,
        upstreamResponse.statusMessage,
        clientResponseHeaders(upstreamResponse, target.deploymentId)
      )
      pipeline(upstreamResponse, response, () => {})
    })

    outgoing.on("error", (error) => {
      clearTimeout(timer)
      if (responded || clientGone) return
      const code = errorCode(error)
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
