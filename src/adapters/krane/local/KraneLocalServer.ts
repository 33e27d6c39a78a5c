/**
 * krane-local's server: krane.v1.DeploymentService as Connect unary JSON on node:http, running
 * deployments as local processes through a ProcessDriver. Owns request validation and the mapping
 * between wire messages and the driver. `startKraneLocal` is the scoped resource: starting it
 * restores the deployments recorded in its data dir (adopting processes a crashed run left behind);
 * closing its scope closes the server and stops every process, keeping the deployments recorded so
 * the next start runs them again.
 *
 * A trust boundary: every request needs the secret (see `secret`); instances get only their own env
 * (SpawnedProcess), their own working directory and, when krane-local runs as root, an unprivileged
 * user. The data dir (state file with every deployment's env, instance logs) is owner-only.
 */
import { chmodSync, mkdirSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { isAbsolute, relative, resolve, sep } from "node:path"
import { Effect, FiberSet, Option, type Schema, type Scope } from "effect"
import { isRoot, lookupOsUser, makeTraversable, type OsUser } from "../../../local/osUser.js"
import { checkCommandArgs, checkEnv, checkImage, namedIssue } from "../../../domain/limits.js"
import type { KraneInstance } from "../Krane.js"
import {
  CreateDeploymentRequest,
  DeleteDeploymentRequest,
  GetDeploymentRequest,
  SERVICE_PATH,
  decodeWire,
  instanceStatusToWire,
  type CreateDeploymentResponse,
  type GetDeploymentResponse,
  type KraneMethod,
  type WireDeployment
} from "../KraneWire.js"
import { bearerTokenCheck } from "./BearerToken.js"
import { ConnectFailure, connectListener, type UnaryHandler } from "./ConnectJson.js"
import { KraneLocalError, describeCause } from "./KraneLocalError.js"
import { makeProcessDriver, type ProcessDriver, type RunRequest } from "./ProcessDriver.js"

export interface KraneLocalOptions {
  /**
   * The bearer token every request must carry (Authorization: Bearer <secret>); others are refused
   * with 401. null serves anyone who can reach the port: only for explicit local development
   * (KRANE_LOCAL_INSECURE=1), since whoever reaches it runs commands on this machine.
   */
  readonly secret: string | null
  /** Preferred port; 0 (the default) picks a free one, as does a preferred port that is taken (logged). */
  readonly port?: number
  /** Default 127.0.0.1. */
  readonly host?: string
  /**
   * Instance logs live under `<dataDir>/logs`, the recorded deployments in `<dataDir>/state.json`.
   * Created when missing; owner-only (0700; 0711 when instances of another user must pass through it
   * to reach `instancesDir` inside it: they can still neither list nor read it).
   */
  readonly dataDir: string
  /** Where each instance gets its working directory (`<namespace>/<instanceId>`); default `<dataDir>/instances`. */
  readonly instancesDir?: string
  /** The OS user instances run as when krane-local runs as root; default "nobody". Ignored otherwise. */
  readonly runAs?: string
  /** HTTP path probed for readiness; default "/". */
  readonly healthPath?: string
  /** SIGTERM-to-SIGKILL grace when stopping an instance; default 5000. */
  readonly gracePeriodMs?: number
  /**
   * Default true. false: closing the scope leaves every process running and the state file as it
   * was, as if krane-local had crashed. Only for tests of restart reconciliation.
   */
  readonly stopChildrenOnClose?: boolean
}

export interface KraneLocal {
  /** Base URL for ConnectKrane, e.g. http://127.0.0.1:7070 */
  readonly url: string
  readonly port: number
}

/** A guard against a typo launching a fork bomb on a laptop. */
const MAX_REPLICAS = 64

const invalid = (message: string) => new ConnectFailure({ code: "invalid_argument", message })

const decode =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (request: unknown): Effect.Effect<A, ConnectFailure> =>
    decodeWire(schema)(request).pipe(Effect.mapError((error) => invalid(error.message)))

/** The limits a Deploy command has (src/domain/limits.ts), so krane-local refuses what Berth would. */
const overLimit = (deployment: WireDeployment): string | undefined =>
  (deployment.image === undefined ? undefined : namedIssue("deployment.image", checkImage(deployment.image))) ??
  (deployment.command === undefined ? undefined : namedIssue("deployment.command", checkCommandArgs(deployment.command))) ??
  (deployment.env === undefined ? undefined : namedIssue("deployment.env", checkEnv(deployment.env)))

const runRequestOf = (deployment: WireDeployment): Effect.Effect<RunRequest, ConnectFailure> => {
  const [file, ...args] = deployment.command ?? []
  const tooLarge = overLimit(deployment)
  if (tooLarge !== undefined) return Effect.fail(invalid(tooLarge))
  if (deployment.deploymentId === "") return Effect.fail(invalid("deployment.deploymentId is required"))
  if (deployment.replicas > MAX_REPLICAS) return Effect.fail(invalid(`krane-local runs at most ${MAX_REPLICAS} replicas`))
  if (file === undefined || file === "") {
    return Effect.fail(
      (deployment.image ?? "") !== ""
        ? new ConnectFailure({
            code: "failed_precondition",
            message: "image sources are unsupported by krane-local: give the deployment a command"
          })
        : invalid("deployment has neither a command nor an image")
    )
  }
  return Effect.succeed({
    namespace: deployment.namespace,
    deploymentId: deployment.deploymentId,
    command: [file, ...args],
    replicas: deployment.replicas,
    env: deployment.env ?? {}
  })
}

const overallStatus = (instances: ReadonlyArray<KraneInstance>) =>
  instances.length > 0 && instances.every((i) => i.status === "RUNNING") ? "DEPLOYMENT_STATUS_RUNNING" : "DEPLOYMENT_STATUS_PENDING"

const routes = (driver: ProcessDriver): ReadonlyMap<string, UnaryHandler> => {
  const createDeployment: UnaryHandler = (request) =>
    decode(CreateDeploymentRequest)(request).pipe(
      Effect.flatMap(({ deployment }) => runRequestOf(deployment)),
      Effect.flatMap((run) =>
        driver.start(run).pipe(
          Effect.mapError((error) => new ConnectFailure({ code: "unavailable", message: error.message })),
          Effect.flatMap((outcome) => {
            if (outcome === "terminating") {
              return Effect.fail(
                new ConnectFailure({ code: "aborted", message: `deployment ${run.deploymentId} is being deleted; retry once it is gone` })
              )
            }
            return driver.instances(run.namespace, run.deploymentId).pipe(
              Effect.map((found): typeof CreateDeploymentResponse.Encoded => ({
                status: outcome === "started" ? "DEPLOYMENT_STATUS_PENDING" : overallStatus(Option.getOrElse(found, () => []))
              }))
            )
          })
        )
      )
    )

  const getDeployment: UnaryHandler = (request) =>
    decode(GetDeploymentRequest)(request).pipe(
      Effect.flatMap(({ namespace, deploymentId }) =>
        driver.instances(namespace, deploymentId).pipe(
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.fail(new ConnectFailure({ code: "not_found", message: `deployment not found: ${deploymentId}` })),
              onSome: (instances) =>
                Effect.succeed<typeof GetDeploymentResponse.Encoded>({
                  instances: instances.map((i) => ({ id: i.id, address: i.address, status: instanceStatusToWire(i.status) }))
                })
            })
          )
        )
      )
    )

  // Answers once the processes have exited (up to the grace period plus a SIGKILL), so a caller that
  // recreates the same deployment afterwards is not told it is still terminating.
  const deleteDeployment: UnaryHandler = (request) =>
    decode(DeleteDeploymentRequest)(request).pipe(
      Effect.flatMap(({ namespace, deploymentId }) => driver.stop(namespace, deploymentId)),
      Effect.as({})
    )

  const methods: ReadonlyArray<readonly [KraneMethod, UnaryHandler]> = [
    ["CreateDeployment", createDeployment],
    ["GetDeployment", getDeployment],
    ["DeleteDeployment", deleteDeployment]
  ]
  return new Map(methods.map(([method, handler]) => [`${SERVICE_PATH}/${method}`, handler]))
}

const listen = (server: Server, port: number, host: string): Effect.Effect<number, NodeJS.ErrnoException> =>
  Effect.async<number, NodeJS.ErrnoException>((resume) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off("listening", onListening)
      resume(Effect.fail(error))
    }
    const onListening = () => {
      server.off("error", onError)
      resume(Effect.succeed((server.address() as AddressInfo).port))
    }
    server.once("error", onError)
    server.once("listening", onListening)
    server.listen(port, host)
  })

const close = (server: Server): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    server.closeAllConnections()
    server.close(() => resume(Effect.void))
  })

/** The user instances run as: `name` when krane-local is root (never root itself unless asked by name), else krane-local's own (undefined). */
const instanceUser = (name: string): Effect.Effect<OsUser | undefined, KraneLocalError> => {
  if (!isRoot()) return Effect.succeed(undefined)
  const user = lookupOsUser(name)
  if (user === undefined) {
    return Effect.fail(
      new KraneLocalError({ message: `krane-local runs as root but there is no OS user "${name}" to run instances as; set KRANE_LOCAL_RUN_AS` })
    )
  }
  return user.uid === 0
    ? Effect.logWarning(`krane-local: KRANE_LOCAL_RUN_AS=${name} runs instances as root`).pipe(Effect.as(undefined))
    : Effect.succeed(user)
}

/** Starts krane-local; the scope's release closes the server, then stops every process (see stopChildrenOnClose). */
export const startKraneLocal = (options: KraneLocalOptions): Effect.Effect<KraneLocal, KraneLocalError, Scope.Scope> =>
  Effect.gen(function* () {
    const host = options.host ?? "127.0.0.1"
    const preferred = options.port ?? 0
    const healthPath = options.healthPath ?? "/"
    if (!healthPath.startsWith("/")) return yield* new KraneLocalError({ message: `healthPath must start with /: ${healthPath}` })
    if (options.secret === "") return yield* new KraneLocalError({ message: "the krane-local secret is empty" })
    const dataDir = resolve(options.dataDir)
    const instancesDir = resolve(options.instancesDir ?? resolve(dataDir, "instances"))
    const runAs = yield* instanceUser(options.runAs ?? "nobody")
    const fromDataDir = relative(dataDir, instancesDir)
    const instancesInside = !(fromDataDir === ".." || fromDataDir.startsWith(`..${sep}`) || isAbsolute(fromDataDir))
    yield* Effect.try({
      try: () => {
        mkdirSync(dataDir, { recursive: true, mode: 0o700 })
        chmodSync(dataDir, runAs !== undefined && instancesInside ? 0o711 : 0o700)
        mkdirSync(resolve(dataDir, "logs"), { recursive: true, mode: 0o700 })
        chmodSync(resolve(dataDir, "logs"), 0o700)
        mkdirSync(instancesDir, { recursive: true, mode: runAs === undefined ? 0o700 : 0o711 })
      },
      catch: (cause) => new KraneLocalError({ message: `cannot prepare data dir ${dataDir}: ${describeCause(cause)}` })
    })
    if (runAs !== undefined) {
      yield* makeTraversable(instancesDir, runAs).pipe(Effect.mapError((error) => new KraneLocalError({ message: error.message })))
      yield* Effect.logInfo(`krane-local runs as root: instances run as ${runAs.name} (uid ${runAs.uid})`)
    }

    const driver = yield* makeProcessDriver({
      dataDir,
      healthPath,
      gracePeriodMs: options.gracePeriodMs,
      instancesDir,
      runAs,
      stopChildrenOnClose: options.stopChildrenOnClose
    })
    // Requests run as fibers of this scope: closing it interrupts any still in flight.
    const runFork = yield* FiberSet.makeRuntime<never>()
    const tokenMatches = options.secret === null ? undefined : bearerTokenCheck(options.secret)
    if (tokenMatches === undefined) {
      yield* Effect.logWarning("krane-local: running WITHOUT authentication (insecure mode): anyone who reaches its port can run commands")
    }
    const server = createServer(
      connectListener(routes(driver), (effect) => void runFork(effect), {
        authorized: (req) => tokenMatches === undefined || tokenMatches(req.headers.authorization)
      })
    )

    const port = yield* Effect.acquireRelease(
      listen(server, preferred, host).pipe(
        Effect.catchAll((error) =>
          error.code === "EADDRINUSE" && preferred !== 0
            ? Effect.logWarning(`krane-local: port ${preferred} is in use; using a free one`).pipe(
                Effect.zipRight(listen(server, 0, host))
              )
            : Effect.fail(error)
        ),
        Effect.mapError((error) => new KraneLocalError({ message: `cannot listen on ${host}:${preferred}: ${error.message}` }))
      ),
      () => close(server)
    )
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`
    yield* Effect.logInfo(`krane-local listening on ${url}`)
    return { url, port }
  })
