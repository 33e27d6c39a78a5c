/**
 * ConnectKrane: the Krane port over Connect unary JSON (POST <base>/krane.v1.DeploymentService/<Method>).
 * Owns the HTTP exchange and the mapping of Connect outcomes onto the port's errors and idempotency.
 */
import { Effect, Layer, type ParseResult, Redacted } from "effect"
import { httpExchange, keepAliveAgent } from "../http/httpExchange.js"
import {
  Krane,
  KraneDeploymentNotFound,
  KraneRejected,
  KraneUnavailable,
  type KraneDeploymentSpec,
  type KraneError,
  type KraneInstance,
  type KraneService
} from "./Krane.js"
import {
  ConnectErrorBody,
  CreateDeploymentResponse,
  GetDeploymentResponse,
  SERVICE_PATH,
  decodeWire,
  instanceStatusFromWire,
  type CreateDeploymentRequest,
  type DeploymentKey,
  type KraneMethod,
  type WireDeployment
} from "./KraneWire.js"

export interface ConnectKraneOptions {
  /** Per-request deadline; defaults to 10 s. */
  readonly timeoutMs?: number
  /** Sent as `Authorization: Bearer <token>` (KRANE_TOKEN): krane-local refuses requests without its secret. */
  readonly token?: Redacted.Redacted<string>
}

const DEFAULT_TIMEOUT_MS = 10_000

const decodeErrorBody = decodeWire(ConnectErrorBody)
const decodeCreated = decodeWire(CreateDeploymentResponse)
const decodeDeployment = decodeWire(GetDeploymentResponse)

/** Codes that describe Krane's condition rather than the request: a retry may succeed. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  "unavailable",
  "internal",
  "unknown",
  "deadline_exceeded",
  "resource_exhausted",
  "aborted",
  "canceled"
])

/** Connect's fallback when an error response carries no code (e.g. a proxy's HTML page). */
const codeFromHttpStatus = (status: number): string => {
  switch (status) {
    case 400:
      return "internal"
    case 401:
      return "unauthenticated"
    case 403:
      return "permission_denied"
    case 404:
      return "unimplemented"
    case 408:
      return "deadline_exceeded"
    case 429:
    case 502:
    case 503:
    case 504:
      return "unavailable"
    default:
      return "unknown"
  }
}

type Reply = { readonly _tag: "Ok"; readonly body: unknown } | { readonly _tag: "Failed"; readonly code: string; readonly message: string }

const parseJson = (text: string): unknown => {
  if (text.trim() === "") return {}
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    // A wrapped socket error (ECONNREFUSED...) is in `cause`; surface it for operators.
    const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : ""
    return `${cause.name}: ${cause.message}${inner}`
  }
  return String(cause)
}

const toWireDeployment = (spec: KraneDeploymentSpec): WireDeployment => ({
  namespace: spec.namespace,
  deploymentId: spec.deploymentId,
  replicas: spec.replicas,
  cpuMillicores: spec.cpuMillicores,
  memorySizeMib: spec.memorySizeMib,
  ...(spec.image !== undefined ? { image: spec.image } : {}),
  ...(spec.command !== undefined ? { command: spec.command } : {}),
  ...(spec.port !== undefined ? { port: spec.port } : {}),
  ...(spec.env !== undefined ? { env: spec.env } : {})
})

export const makeConnectKrane = (baseUrl: string, options: ConnectKraneOptions = {}): KraneService => {
  const root = baseUrl.replace(/\/+$/, "")
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "connect-protocol-version": "1",
    ...(options.token === undefined ? {} : { authorization: `Bearer ${Redacted.value(options.token)}` })
  }

  const unavailable = (operation: string, message: string) => new KraneUnavailable({ operation, message })

  const agent = keepAliveAgent()

  const call = (method: KraneMethod, operation: string, request: unknown): Effect.Effect<Reply, KraneUnavailable> =>
    httpExchange(`${root}${SERVICE_PATH}/${method}`, { method: "POST", headers, body: JSON.stringify(request), timeoutMs, agent }).pipe(
      Effect.mapError((cause) => unavailable(operation, describe(cause))),
      Effect.flatMap(({ status, body: bytes }): Effect.Effect<Reply, KraneUnavailable> => {
        const body = parseJson(bytes === null ? "" : bytes.toString("utf8"))
        if (status >= 200 && status < 300) {
          return body === undefined
            ? Effect.fail(unavailable(operation, `HTTP ${status} with a body that is not JSON`))
            : Effect.succeed({ _tag: "Ok", body })
        }
        return decodeErrorBody(body).pipe(
          Effect.map(({ code, message }): Reply => ({ _tag: "Failed", code, message })),
          Effect.orElseSucceed((): Reply => ({ _tag: "Failed", code: codeFromHttpStatus(status), message: `HTTP ${status}` }))
        )
      })
    )

  const failed = (operation: string, code: string, message: string): KraneError =>
    RETRYABLE_CODES.has(code)
      ? unavailable(operation, `${code}: ${message}`)
      : new KraneRejected({ operation, code, message })

  const badResponse = (operation: string) => (error: ParseResult.ParseError) =>
    unavailable(operation, `unexpected response: ${error.message}`)

  const createDeployment: KraneService["createDeployment"] = (spec) => {
    const operation = "createDeployment"
    const request: CreateDeploymentRequest = { deployment: toWireDeployment(spec) }
    return call("CreateDeployment", operation, request).pipe(
      Effect.flatMap((reply) => {
        if (reply._tag === "Ok") {
          return decodeCreated(reply.body).pipe(Effect.asVoid, Effect.mapError(badResponse(operation)))
        }
        // Creation is idempotent by deploymentId: a retry after a lost response must not fail.
        return reply.code === "already_exists" ? Effect.void : Effect.fail(failed(operation, reply.code, reply.message))
      }),
      Effect.withSpan("krane.createDeployment", {
        captureStackTrace: false,
        attributes: { "krane.namespace": spec.namespace, "krane.deployment_id": spec.deploymentId }
      })
    )
  }

  const getDeployment: KraneService["getDeployment"] = (namespace, deploymentId) => {
    const operation = "getDeployment"
    const request: DeploymentKey = { namespace, deploymentId }
    return call("GetDeployment", operation, request).pipe(
      Effect.flatMap((reply): Effect.Effect<ReadonlyArray<KraneInstance>, KraneError | KraneDeploymentNotFound> => {
        if (reply._tag === "Ok") {
          return decodeDeployment(reply.body).pipe(
            Effect.map(({ instances }): ReadonlyArray<KraneInstance> =>
              instances.map((i) => ({ id: i.id, address: i.address, status: instanceStatusFromWire(i.status) }))
            ),
            Effect.mapError(badResponse(operation))
          )
        }
        return reply.code === "not_found"
          ? Effect.fail(new KraneDeploymentNotFound({ namespace, deploymentId }))
          : Effect.fail(failed(operation, reply.code, reply.message))
      }),
      Effect.withSpan("krane.getDeployment", {
        captureStackTrace: false,
        attributes: { "krane.namespace": namespace, "krane.deployment_id": deploymentId }
      })
    )
  }

  const deleteDeployment: KraneService["deleteDeployment"] = (namespace, deploymentId) => {
    const operation = "deleteDeployment"
    const request: DeploymentKey = { namespace, deploymentId }
    return call("DeleteDeployment", operation, request).pipe(
      Effect.flatMap((reply) =>
        // Deleting what is already gone is the desired end state, not an error.
        reply._tag === "Ok" || reply.code === "not_found"
          ? Effect.void
          : Effect.fail(failed(operation, reply.code, reply.message))
      ),
      Effect.withSpan("krane.deleteDeployment", {
        captureStackTrace: false,
        attributes: { "krane.namespace": namespace, "krane.deployment_id": deploymentId }
      })
    )
  }

  return { createDeployment, getDeployment, deleteDeployment }
}

export const ConnectKrane = {
  layer: (baseUrl: string, options?: ConnectKraneOptions): Layer.Layer<Krane> =>
    Layer.succeed(Krane, makeConnectKrane(baseUrl, options))
} as const
