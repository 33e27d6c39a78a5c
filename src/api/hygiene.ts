/**
 * Request hygiene, before routing, authentication or any handler runs (so nothing is read, decided
 * or published for a refused request):
 * - 421 when the Host header names a host Berth does not serve: a DNS-rebinding page (a name the
 *   attacker controls, resolving to 127.0.0.1) cannot talk to a local Berth;
 * - 403 when a browser sends an Origin that is neither BERTH_ALLOWED_ORIGINS nor the API's own;
 * - 415 when a request carries a body that is not `application/json`: a `text/plain` POST is a CORS
 *   "simple request" a browser sends from any page without asking first.
 * Allowed origins get CORS headers (and an answer to their preflight); no other origin does.
 */
import { HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { problemBody, problemContentType } from "./problems.js"

export interface HygieneSettings {
  readonly allowedOrigins: ReadonlyArray<string>
  readonly allowedHosts: ReadonlyArray<string>
}

export interface Refusal {
  readonly status: 403 | 415 | 421
  readonly title: string
  readonly detail: string
}

type Headers = Readonly<Record<string, string | undefined>>

/** `example.com:8787` -> `example.com`, `[::1]:8787` -> `::1`; lower case. */
export const hostnameOf = (host: string): string => {
  const value = host.trim().toLowerCase()
  if (value.startsWith("[")) {
    const end = value.indexOf("]")
    return end < 0 ? value : value.slice(1, end)
  }
  const colon = value.indexOf(":")
  return colon >= 0 && value.indexOf(":", colon + 1) < 0 ? value.slice(0, colon) : value
}

const bodyMethods = new Set(["POST", "PUT", "PATCH", "DELETE"])

/** Whether the request says it has a body (a length over 0, or chunked). */
const hasBody = (headers: Headers): boolean => {
  const length = headers["content-length"]
  if (length !== undefined) return Number(length) > 0 || Number.isNaN(Number(length))
  return headers["transfer-encoding"] !== undefined
}

const isJson = (contentType: string): boolean => contentType.split(";")[0]?.trim().toLowerCase() === "application/json"

/** The origin may call the API: listed, or the API's own origin (its Swagger UI at /docs). */
export const originAllowed = (origin: string, host: string | undefined, settings: HygieneSettings): boolean => {
  const normalised = origin.trim().replace(/\/+$/, "").toLowerCase()
  if (settings.allowedOrigins.includes(normalised)) return true
  try {
    const url = new URL(normalised)
    return host !== undefined && url.host === host.trim().toLowerCase() && settings.allowedHosts.includes(hostnameOf(url.host))
  } catch {
    // "null" (sandboxed frames, file://) and garbage are no origin we serve.
    return false
  }
}

/** Why a request is refused before anything else happens, or undefined to let it through. */
export const screen = (method: string, headers: Headers, settings: HygieneSettings): Refusal | undefined => {
  const host = headers["host"]
  if (host === undefined || !settings.allowedHosts.includes(hostnameOf(host))) {
    return {
      status: 421,
      title: "Misdirected Request",
      detail: `this server does not serve host ${host === undefined ? "(none)" : JSON.stringify(hostnameOf(host))}; set BERTH_ALLOWED_HOSTS to add it`
    }
  }
  const origin = headers["origin"]
  if (origin !== undefined && !originAllowed(origin, host, settings)) {
    return { status: 403, title: "Forbidden", detail: `origin ${JSON.stringify(origin)} is not allowed (BERTH_ALLOWED_ORIGINS)` }
  }
  if (bodyMethods.has(method.toUpperCase())) {
    const contentType = headers["content-type"]
    if (contentType !== undefined ? !isJson(contentType) : hasBody(headers)) {
      return {
        status: 415,
        title: "Unsupported Media Type",
        detail: `request bodies must be application/json, got ${contentType === undefined ? "no content-type" : JSON.stringify(contentType)}`
      }
    }
  }
  return undefined
}

const corsHeaders = (origin: string): Record<string, string> => ({
  "access-control-allow-origin": origin,
  "access-control-allow-methods": "GET, POST, DELETE",
  "access-control-allow-headers": "authorization, content-type",
  "access-control-max-age": "600",
  vary: "Origin"
})

/** Wraps the whole API (server.ts): refusals are problem documents; allowed origins get CORS headers. */
export const withHygiene = (settings: HygieneSettings) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const refusal = screen(request.method, request.headers, settings)
    if (refusal !== undefined) {
      return Effect.succeed(
        HttpServerResponse.unsafeJson(problemBody(refusal.status, refusal.title, refusal.detail), {
          status: refusal.status,
          contentType: problemContentType
        })
      )
    }
    const origin = request.headers["origin"]
    if (origin === undefined) return app
    if (request.method === "OPTIONS") return Effect.succeed(HttpServerResponse.empty({ status: 204, headers: corsHeaders(origin) }))
    // A pre-response handler, not a map over `app`: the router may send its response itself (as cors() does).
    return Effect.zipRight(
      HttpApp.appendPreResponseHandler((_request, response) => Effect.succeed(HttpServerResponse.setHeaders(response, corsHeaders(origin)))),
      app
    )
  })
