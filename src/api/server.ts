/**
 * Serves the status API over HTTP (NodeHttpServer): BerthApi's handlers (read-model queries and
 * command publishing), the OpenAPI document at GET /openapi.json, Swagger UI at /docs, and RFC 9457
 * problem+json for unknown routes, request decoding failures and defects. Every request first passes
 * hygiene.ts (Host, Origin, content type); every endpoint but health needs a bearer token (security.ts).
 */
import { createServer } from "node:http"
import { HttpApiBuilder, HttpApiSwagger, HttpApp, HttpMiddleware, HttpServer, type HttpServerError, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { ActorKey } from "../auth/actor.js"
import type { AuthSettings } from "../auth/settings.js"
import { TokenStore, type TokenStoreError } from "../auth/TokenStore.js"
import type { Nats, NatsError } from "../nats/Nats.js"
import type { Database } from "../projections/Database.js"
import type { Secrets } from "../secrets/Secrets.js"
import { BerthApi } from "./BerthApi.js"
import { DeploymentsLive, ProjectsLive } from "./handlers.js"
import { HealthLive } from "./health.js"
import { withHygiene } from "./hygiene.js"
import { AuthenticationLive } from "./security.js"
import { TokensLive } from "./tokenHandlers.js"
import { problemBody, problemContentType } from "./problems.js"

export interface ApiServerOptions {
  /** 0 picks a free port (read it from HttpServer.HttpServer's address). */
  readonly port: number
  /** Default 127.0.0.1; "0.0.0.0" to listen on every interface. */
  readonly host?: string
  /** The admin token, allowed origins and hosts (src/auth/settings.ts). */
  readonly auth: AuthSettings
}

/** What a 503 tells clients to wait before retrying. */
const retryAfterSeconds = "5"

const titles: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  500: "Internal Server Error",
  503: "Service Unavailable"
}

const problemResponse = (status: number, detail: string) =>
  HttpServerResponse.json(problemBody(status, titles[status] ?? "Error", detail), { status, contentType: problemContentType })

const decodeErrorMessage = (body: Uint8Array): string | undefined => {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(body))
    return typeof parsed === "object" && parsed !== null && "_tag" in parsed && parsed._tag === "HttpApiDecodeError" &&
        "message" in parsed && typeof parsed.message === "string"
      ? parsed.message
      : undefined
  } catch {
    return undefined
  }
}

/**
 * Errors the API definition does not describe, rewritten just before they are sent: an empty 4xx/5xx
 * (unknown route, defect) and the framework's request-decoding 400 become problem documents.
 */
const toProblem: HttpApp.PreResponseHandler = (request, response) => {
  if (response.status < 400) return Effect.succeed(response)
  // RFC 9110: a 401 names the scheme the client should use.
  if (response.status === 401 && response.headers["www-authenticate"] === undefined) {
    return toProblem(request, HttpServerResponse.setHeader(response, "www-authenticate", 'Bearer realm="berth"'))
  }
  // A dependency is away (PostgreSQL, NATS): tell clients when to try again.
  if (response.status === 503 && response.headers["retry-after"] === undefined) {
    return toProblem(request, HttpServerResponse.setHeader(response, "retry-after", retryAfterSeconds))
  }
  if (response.body._tag === "Empty") {
    const detail = response.status === 404 ? `no route for ${request.method} ${request.url}` : titles[response.status] ?? "error"
    return problemResponse(response.status, detail).pipe(Effect.orDie)
  }
  if (response.status === 400 && response.body._tag === "Uint8Array" && response.body.contentType.startsWith("application/json")) {
    const message = decodeErrorMessage(response.body.body)
    if (message !== undefined) return problemResponse(400, message).pipe(Effect.orDie)
  }
  return Effect.succeed(response)
}

/** The API's handlers and security, over the read model and NATS (tokens in KV berth_tokens). */
export const ApiLive = (auth: AuthSettings) =>
  HttpApiBuilder.api(BerthApi).pipe(
    Layer.provide([ProjectsLive, DeploymentsLive, TokensLive, HealthLive]),
    Layer.provide(AuthenticationLive(auth.adminToken)),
    Layer.provide(Layer.succeed(ActorKey, auth.actorKey)),
    Layer.provide(TokenStore.layer)
  )

export const ApiServer = {
  /**
   * The API served for the life of the layer; also exposes the HttpServer (for its bound address).
   * Reads the read model (Database) and publishes commands to BERTH_COMMANDS (Nats), env values
   * sealed (Secrets).
   */
  layer: (
    options: ApiServerOptions
  ): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError | NatsError | TokenStoreError, Database | Nats | Secrets> =>
    HttpApiBuilder.serve((app) =>
      HttpMiddleware.logger(HttpApp.withPreResponseHandler(withHygiene(options.auth)(app), toProblem))
    ).pipe(
      Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
      Layer.provide(ApiLive(options.auth)),
      HttpServer.withLogAddress,
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host ?? "127.0.0.1" }))
    )
}
