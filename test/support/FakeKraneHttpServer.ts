/**
 * FakeKraneHttpServer: a Connect unary JSON server for krane.v1.DeploymentService backed by a
 * FakeKrane, on 127.0.0.1 with an ephemeral port. Exists only to test ConnectKrane on the wire:
 * it can answer in snake_case, write enums as numbers, script Connect errors, delay, and count requests.
 * For chaos runs it can also be faulty for a while (`setFault`): answer 5xx, or hang, per method and
 * with a probability. None of that happens unless asked: the default is a well-behaved Krane.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Either, type Scope } from "effect"
import {
  CreateDeploymentRequest,
  DeploymentKey,
  SERVICE_PATH,
  decodeWire,
  instanceStatusToWire,
  wireStatusNumber,
  type KraneMethod
} from "../../src/adapters/krane/KraneWire.js"
import type { KraneDeploymentNotFound, KraneError } from "../../src/adapters/krane/Krane.js"
import { makeFakeKrane, type FakeKrane } from "./FakeKrane.js"

export interface RecordedRequest {
  readonly method: string
  readonly contentType: string | undefined
  readonly authorization: string | undefined
  /** The parsed JSON body exactly as sent, before any key normalisation. */
  readonly body: unknown
}

/** A canned reply, standing in for whatever the FakeKrane would have answered. */
export interface ScriptedReply {
  readonly httpStatus: number
  /** Sent verbatim: an object is JSON-encoded, a string is sent raw (to imitate non-Connect proxies). */
  readonly body: unknown
}

export interface FakeKraneHttpServerOptions {
  readonly krane?: FakeKrane
  /** Field names in responses; real peers may use either. Default camel. */
  readonly casing?: "camel" | "snake"
  /** How DeploymentStatus is written. Default name. */
  readonly enums?: "name" | "number"
  /** Answer CreateDeployment for a known deployment with Connect already_exists (some Kranes do). */
  readonly alreadyExistsOnDuplicate?: boolean
  /** Answer DeleteDeployment for an unknown deployment with Connect not_found. */
  readonly notFoundOnUnknownDelete?: boolean
}

/**
 * A fault that lasts until `setFault(undefined)`:
 * - `error`: the request gets a Connect error with a 5xx status (`unavailable` 503 or `internal` 500)
 *   and never reaches the FakeKrane;
 * - `hang`: the request is held unanswered; when the fault is cleared (or replaced) its connection is
 *   dropped, so it never reaches the FakeKrane either (a hung Krane that never acted on it).
 */
export interface KraneFault {
  readonly mode: "error" | "hang"
  /** The methods affected; default every method. */
  readonly methods?: ReadonlyArray<KraneMethod>
  /** The chance that a matching request is affected; default 1. */
  readonly probability?: number
  /** For `error`: the HTTP status; default 503 (Connect `unavailable`); 500 answers Connect `internal`. */
  readonly status?: 500 | 503
  /** Random numbers in [0, 1) for `probability`; default Math.random (pass a seeded one to replay a run). */
  readonly random?: () => number
}

export interface FakeKraneHttpServer {
  readonly url: string
  readonly krane: FakeKrane
  readonly requests: ReadonlyArray<RecordedRequest>
  readonly requestCount: (method?: KraneMethod) => number
  /** The next `times` calls to `method` get `reply` instead of reaching the FakeKrane. */
  readonly script: (method: KraneMethod, reply: ScriptedReply, times?: number) => void
  /** Delay every response by ms (to exercise client timeouts). */
  readonly setDelayMs: (ms: number) => void
  /** Makes the server faulty until called again (with undefined: healthy); held requests are then dropped. */
  readonly setFault: (fault: KraneFault | undefined) => void
  /** How many requests a fault affected so far, by mode. */
  readonly faulted: (mode: KraneFault["mode"]) => number
  readonly close: () => Promise<void>
}

const HTTP_STATUS_OF_CODE: Readonly<Record<string, number>> = {
  invalid_argument: 400,
  failed_precondition: 400,
  out_of_range: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  aborted: 409,
  resource_exhausted: 429,
  unimplemented: 501,
  unavailable: 503,
  deadline_exceeded: 504
}

/** A Connect error reply with the HTTP status Connect assigns to the code. */
export const connectError = (code: string, message = ""): ScriptedReply => ({
  httpStatus: HTTP_STATUS_OF_CODE[code] ?? 500,
  body: message === "" ? { code } : { code, message }
})

const CAMEL_TO_SNAKE: Readonly<Record<string, string>> = {
  deploymentId: "deployment_id",
  cpuMillicores: "cpu_millicores",
  memorySizeMib: "memory_size_mib"
}

const toSnake = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(toSnake)
  if (value === null || typeof value !== "object") return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [CAMEL_TO_SNAKE[k] ?? k, toSnake(v)]))
}

const errorReply = (error: KraneError | KraneDeploymentNotFound): ScriptedReply => {
  switch (error._tag) {
    case "KraneUnavailable":
      return connectError("unavailable", error.message)
    case "KraneRejected":
      return connectError(error.code, error.message)
    case "KraneDeploymentNotFound":
      return connectError("not_found", `deployment ${error.deploymentId} not found`)
  }
}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

const isMethod = (name: string): name is KraneMethod =>
  name === "CreateDeployment" || name === "GetDeployment" || name === "DeleteDeployment"

export const startFakeKraneHttpServer = async (options: FakeKraneHttpServerOptions = {}): Promise<FakeKraneHttpServer> => {
  const krane = options.krane ?? makeFakeKrane()
  const requests: Array<RecordedRequest> = []
  const scripted = new Map<KraneMethod, Array<ScriptedReply>>()
  let delayMs = 0
  let fault: KraneFault | undefined
  const held = new Set<ServerResponse>()
  const faultCounts = { error: 0, hang: 0 }

  /** The fault that applies to this request, if any (draws the random number only when one could). */
  const faultFor = (method: KraneMethod): KraneFault | undefined => {
    if (fault === undefined) return undefined
    if (fault.methods !== undefined && !fault.methods.includes(method)) return undefined
    const probability = fault.probability ?? 1
    if (probability < 1 && (fault.random ?? Math.random)() >= probability) return undefined
    return fault
  }

  const dropHeld = () => {
    for (const res of held) res.destroy()
    held.clear()
  }

  const ok = (body: object): ScriptedReply => ({
    httpStatus: 200,
    body: options.casing === "snake" ? toSnake(body) : body
  })

  const encodeStatus = (status: Parameters<typeof instanceStatusToWire>[0]): string | number => {
    const name = instanceStatusToWire(status)
    return options.enums === "number" ? wireStatusNumber(name) : name
  }

  const invalid = (error: { readonly message: string }) => Effect.succeed(connectError("invalid_argument", error.message))

  const handle = (method: KraneMethod, body: unknown): Effect.Effect<ScriptedReply> => {
    switch (method) {
      case "CreateDeployment":
        return decodeWire(CreateDeploymentRequest)(body).pipe(
          Effect.flatMap(({ deployment }) => {
            if (options.alreadyExistsOnDuplicate === true && krane.has(deployment.namespace, deployment.deploymentId)) {
              return Effect.succeed(connectError("already_exists", `deployment ${deployment.deploymentId} exists`))
            }
            return krane.service.createDeployment(deployment).pipe(
              Effect.either,
              Effect.map(Either.match({ onLeft: errorReply, onRight: () => ok({ status: encodeStatus("PENDING") }) }))
            )
          }),
          Effect.catchTag("ParseError", invalid)
        )
      case "GetDeployment":
        return decodeWire(DeploymentKey)(body).pipe(
          Effect.flatMap(({ namespace, deploymentId }) => krane.service.getDeployment(namespace, deploymentId).pipe(Effect.either)),
          Effect.map(
            Either.match({
              onLeft: errorReply,
              onRight: (instances) =>
                // proto3 JSON omits an empty repeated field.
                ok(instances.length === 0 ? {} : { instances: instances.map((i) => ({ ...i, status: encodeStatus(i.status) })) })
            })
          ),
          Effect.catchTag("ParseError", invalid)
        )
      case "DeleteDeployment":
        return decodeWire(DeploymentKey)(body).pipe(
          Effect.flatMap(({ namespace, deploymentId }) => {
            if (options.notFoundOnUnknownDelete === true && !krane.has(namespace, deploymentId)) {
              return Effect.succeed(connectError("not_found", `deployment ${deploymentId} not found`))
            }
            return krane.service.deleteDeployment(namespace, deploymentId).pipe(
              Effect.either,
              Effect.map(Either.match({ onLeft: errorReply, onRight: () => ok({}) }))
            )
          }),
          Effect.catchTag("ParseError", invalid)
        )
    }
  }

  const respond = (res: ServerResponse, reply: ScriptedReply): void => {
    const raw = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body)
    const type = typeof reply.body === "string" ? "text/plain" : "application/json"
    const send = () => {
      if (res.destroyed) return
      res.writeHead(reply.httpStatus, { "content-type": type }).end(raw)
    }
    if (delayMs > 0) setTimeout(send, delayMs)
    else send()
  }

  const server = createServer((req, res) => {
    void readBody(req).then(async (text) => {
      const name = (req.url ?? "").startsWith(`${SERVICE_PATH}/`) ? (req.url ?? "").slice(SERVICE_PATH.length + 1) : ""
      let body: unknown
      try {
        body = JSON.parse(text) as unknown
      } catch {
        body = undefined
      }
      requests.push({ method: name, contentType: req.headers["content-type"], authorization: req.headers.authorization, body })
      if (req.method !== "POST" || !isMethod(name)) return respond(res, connectError("unimplemented", `no method ${name}`))
      if (req.headers["content-type"] !== "application/json") return respond(res, { httpStatus: 415, body: "unsupported media type" })
      if (body === undefined) return respond(res, connectError("invalid_argument", "body is not JSON"))
      const faulty = faultFor(name)
      if (faulty !== undefined) {
        faultCounts[faulty.mode]++
        if (faulty.mode === "error") {
          return respond(res, faulty.status === 500 ? { httpStatus: 500, body: { code: "internal", message: "injected fault" } } : connectError("unavailable", "injected fault"))
        }
        held.add(res)
        res.once("close", () => held.delete(res))
        return
      }
      const canned = scripted.get(name)?.shift()
      respond(res, canned ?? (await Effect.runPromise(handle(name, body))))
    })
  })

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    krane,
    requests,
    requestCount: (method) => (method === undefined ? requests.length : requests.filter((r) => r.method === method).length),
    script: (method, reply, times = 1) => {
      const queue = scripted.get(method) ?? []
      for (let i = 0; i < times; i++) queue.push(reply)
      scripted.set(method, queue)
    },
    setDelayMs: (ms) => {
      delayMs = ms
    },
    setFault: (next) => {
      fault = next
      dropHeld()
    },
    faulted: (mode) => faultCounts[mode],
    close: () =>
      new Promise<void>((resolve, reject) => {
        dropHeld()
        // Delayed replies would otherwise keep sockets (and the test run) alive.
        server.closeAllConnections()
        server.close((error) => (error === undefined ? resolve() : reject(error)))
      })
  }
}

/** The server as a scoped resource: closed when the scope ends. */
export const fakeKraneHttpServer = (
  options: FakeKraneHttpServerOptions = {}
): Effect.Effect<FakeKraneHttpServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startFakeKraneHttpServer(options)),
    (server) => Effect.promise(() => server.close())
  )
