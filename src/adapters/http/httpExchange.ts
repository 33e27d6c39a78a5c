/**
 * One HTTP/1.1 exchange on node:http with a keep-alive agent, for the orchestrator's outbound calls
 * (Krane's Connect-JSON API, the OpenAPI scrape). Not `fetch`: its WHATWG Request/Response/Headers,
 * body streams and abort signals cost several times node:http's CPU per request (a tenth of the
 * orchestrator's profile in a deploy storm), and an interrupted fiber here just destroys the request
 * (no AbortController per call). Redirects are never followed; the deadline covers the whole exchange
 * (a server may send headers and then stall), and a body larger than `maxBytes` is not read.
 */
import { Agent, request } from "node:http"
import { Effect } from "effect"

export interface HttpExchangeOptions {
  readonly method: "GET" | "POST"
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
  /** Deadline for the whole exchange, body included. */
  readonly timeoutMs: number
  /** A body larger than this is not read: `body` is then null. */
  readonly maxBytes?: number
  readonly agent: Agent
}

export interface HttpResponse {
  readonly status: number
  /** The body, or null when it exceeded `maxBytes`. */
  readonly body: Buffer | null
}

/** The exchange did not finish in time; `name` is TimeoutError, as fetch's would be. */
export class HttpTimeout extends Error {
  override readonly name = "TimeoutError"
}

/** Keep-alive connections, reused across calls to the same host (one agent per adapter). */
export const keepAliveAgent = (): Agent => new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: "lifo" })

/** Fails with the socket's or the deadline's error (its message names the cause: ECONNREFUSED...). */
export const httpExchange = (url: string, options: HttpExchangeOptions): Effect.Effect<HttpResponse, Error> =>
  Effect.async<HttpResponse, Error>((resume) => {
    let settled = false
    const finish = (outcome: Effect.Effect<HttpResponse, Error>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(outcome)
    }
    const fail = (error: unknown) => finish(Effect.fail(error instanceof Error ? error : new Error(String(error))))
    const headers: Record<string, string | number> = { ...options.headers }
    if (options.body !== undefined) headers["content-length"] = Buffer.byteLength(options.body)
    const req = request(url, { method: options.method, headers, agent: options.agent }, (res) => {
      const chunks: Array<Buffer> = []
      let size = 0
      res.on("data", (chunk: Buffer) => {
        size += chunk.byteLength
        if (options.maxBytes !== undefined && size > options.maxBytes) {
          res.destroy()
          finish(Effect.succeed({ status: res.statusCode ?? 0, body: null }))
          return
        }
        chunks.push(chunk)
      })
      res.on("end", () => {
        const body = chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks)
        finish(Effect.succeed({ status: res.statusCode ?? 0, body }))
      })
      res.on("error", fail)
      res.on("close", () => {
        if (!res.complete) fail(new Error("the response was cut off"))
      })
    })
    const timer = setTimeout(() => {
      const error = new HttpTimeout(`no answer within ${options.timeoutMs} ms`)
      req.destroy(error)
      fail(error)
    }, options.timeoutMs)
    req.on("error", fail)
    req.end(options.body)
    // Interrupted: the request goes (its socket with it), and nothing resumes.
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
      req.destroy()
    })
  })
