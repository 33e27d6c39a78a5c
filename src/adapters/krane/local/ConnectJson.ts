/**
 * Connect unary JSON over node:http, server side: refuses an unauthorized request (401
 * `unauthenticated`) before anything else, routes a POST to its method's handler by path,
 * reads the JSON body, and writes the handler's answer or a Connect error body
 * (`{"code","message"}`) with the HTTP status Connect assigns to the code. Knows nothing of Krane.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http"
import { Cause, Data, Effect } from "effect"

export type ConnectCode =
  | "invalid_argument"
  | "failed_precondition"
  | "not_found"
  | "aborted"
  | "resource_exhausted"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "unauthenticated"

const HTTP_STATUS_OF_CODE: Readonly<Record<ConnectCode, number>> = {
  invalid_argument: 400,
  failed_precondition: 400,
  not_found: 404,
  aborted: 409,
  resource_exhausted: 429,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  unauthenticated: 401
}

/** A handler's refusal, sent to the caller as a Connect error. */
export class ConnectFailure extends Data.TaggedError("ConnectFailure")<{
  readonly code: ConnectCode
  readonly message: string
}> {}

/** Receives the parsed JSON request; answers the JSON response message. */
export type UnaryHandler = (request: unknown) => Effect.Effect<object, ConnectFailure>

const MAX_BODY_BYTES = 1 << 20

const send = (res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void => {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body))
}

const sendFailure = (res: ServerResponse, failure: ConnectFailure, headers: Record<string, string> = {}): void =>
  send(res, HTTP_STATUS_OF_CODE[failure.code], { code: failure.code, message: failure.message }, headers)

const readBody = (req: IncomingMessage): Effect.Effect<string, ConnectFailure> =>
  Effect.async<string, ConnectFailure>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    let settled = false
    const settle = (outcome: Effect.Effect<string, ConnectFailure>) => {
      if (settled) return
      settled = true
      resume(outcome)
    }
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_BODY_BYTES) chunks.push(chunk)
      else settle(Effect.fail(new ConnectFailure({ code: "resource_exhausted", message: `request body over ${MAX_BODY_BYTES} bytes` })))
    })
    req.on("end", () => settle(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    req.on("error", (error) => settle(Effect.fail(new ConnectFailure({ code: "invalid_argument", message: error.message }))))
  })

const parseJson = (text: string): Effect.Effect<unknown, ConnectFailure> =>
  Effect.try({
    try: (): unknown => JSON.parse(text),
    catch: () => new ConnectFailure({ code: "invalid_argument", message: "request body is not valid JSON" })
  })

export interface ConnectListenerOptions {
  /** True when the request may be served (its credentials check out); others get 401 unauthenticated. */
  readonly authorized: (req: IncomingMessage) => boolean
}

const serve = (
  routes: ReadonlyMap<string, UnaryHandler>,
  options: ConnectListenerOptions,
  req: IncomingMessage,
  res: ServerResponse
): Effect.Effect<void> => {
  // First, so an unauthenticated caller learns nothing (not even which paths exist).
  if (!options.authorized(req)) {
    return Effect.sync(() =>
      sendFailure(res, new ConnectFailure({ code: "unauthenticated", message: "missing or wrong bearer token" }), {
        "www-authenticate": "Bearer"
      })
    )
  }
  const path = (req.url ?? "").split("?")[0] ?? ""
  const handler = routes.get(path)
  if (handler === undefined) {
    return Effect.sync(() => sendFailure(res, new ConnectFailure({ code: "unimplemented", message: `no method at ${path}` })))
  }
  if (req.method !== "POST") {
    return Effect.sync(() =>
      send(res, 405, { code: "unimplemented", message: `${req.method ?? "?"} is not supported; use POST` }, { allow: "POST" })
    )
  }
  const mediaType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase()
  if (mediaType !== "application/json") {
    return Effect.sync(() => {
      if (!res.headersSent) res.writeHead(415, { "content-type": "text/plain" }).end("use content-type: application/json")
    })
  }
  return readBody(req).pipe(
    Effect.flatMap(parseJson),
    Effect.flatMap(handler),
    Effect.match({
      onSuccess: (answer) => send(res, 200, answer),
      onFailure: (failure) => sendFailure(res, failure)
    }),
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.sync(() => res.destroy())
        : Effect.logError("request failed unexpectedly", cause).pipe(
            Effect.zipRight(Effect.sync(() => sendFailure(res, new ConnectFailure({ code: "internal", message: Cause.pretty(cause) }))))
          )
    )
  )
}

/** A node:http listener serving `routes` (full paths such as /pkg.Service/Method); `run` forks each request's Effect. */
export const connectListener =
  (routes: ReadonlyMap<string, UnaryHandler>, run: (effect: Effect.Effect<void>) => void, options: ConnectListenerOptions): RequestListener =>
  (req, res) =>
    run(serve(routes, options, req, res))
