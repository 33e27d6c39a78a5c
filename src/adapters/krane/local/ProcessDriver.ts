/**
 * ProcessDriver: krane-local's deployments as local processes. Owns the table of deployments and
 * their instances, idempotent start, port and log-file assignment, one supervising fiber per
 * instance (health checks, noticing exits), and stopping one deployment or all of them.
 * Crash restarts (a later issue) belong in `supervise`; restart reconciliation would persist this table under dataDir.
 */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { Deferred, Duration, Effect, Exit, FiberId, FiberSet, Option, type Scope } from "effect"
import { freePort } from "../../../local/binaries.js"
import type { KraneInstance } from "../Krane.js"
import { KraneLocalError, describeCause } from "./KraneLocalError.js"
import { probeHealth, spawnInstance, type LocalInstance } from "./LocalInstance.js"

export interface ProcessDriverOptions {
  /** Instance logs go to `<dataDir>/logs/<namespace>/<instanceId>.log`. */
  readonly dataDir: string
  /** Path probed over HTTP for readiness; default "/". */
  readonly healthPath?: string | undefined
  /** How long a stopping process gets between SIGTERM and SIGKILL; default 5000. */
  readonly gracePeriodMs?: number | undefined
  /** Working directory of the processes; default process.cwd(). */
  readonly cwd?: string | undefined
}

export interface RunRequest {
  readonly namespace: string
  readonly deploymentId: string
  readonly command: readonly [string, ...Array<string>]
  readonly replicas: number
  readonly env: Readonly<Record<string, string>>
}

/** started: processes launched. exists: known already, left alone. terminating: being deleted; ask again once it is gone. */
export type StartOutcome = "started" | "exists" | "terminating"

export interface ProcessDriver {
  /** Idempotent by (namespace, deploymentId). */
  readonly start: (request: RunRequest) => Effect.Effect<StartOutcome, KraneLocalError>
  /** None when the deployment is unknown: never started, or deleted and gone. */
  readonly instances: (namespace: string, deploymentId: string) => Effect.Effect<Option.Option<ReadonlyArray<KraneInstance>>>
  /** Stops the deployment's processes and forgets it once all have exited. Idempotent; unknown is fine. */
  readonly stop: (namespace: string, deploymentId: string) => Effect.Effect<void>
  /** Shutdown: refuses further starts and stops everything. Also runs when the driver's scope closes. */
  readonly stopAll: Effect.Effect<void>
}

interface Deployment {
  readonly key: string
  readonly namespace: string
  readonly deploymentId: string
  readonly instances: Array<LocalInstance>
  /** Set once deletion begins; done when every process has exited and the deployment is forgotten. */
  stopped: Deferred.Deferred<void> | undefined
}

const PROBE_UNTIL_READY = Duration.millis(200)
const PROBE_WHEN_READY = Duration.seconds(2)
const PORT_ATTEMPTS = 20

const keyOf = (namespace: string, deploymentId: string) => JSON.stringify([namespace, deploymentId])
const safeName = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, "_") || "_"

export const makeProcessDriver = (options: ProcessDriverOptions): Effect.Effect<ProcessDriver, never, Scope.Scope> =>
  Effect.gen(function* () {
    const healthPath = options.healthPath ?? "/"
    const graceMs = options.gracePeriodMs ?? 5_000
    const cwd = options.cwd ?? process.cwd()
    const deployments = new Map<string, Deployment>()
    const reservedPorts = new Set<number>()
    let closed = false
    // Supervisors and stops run here: they outlive the request that began them, not the driver.
    const fibers = yield* FiberSet.make()

    /** Health-checks the instance until it exits, then says how it ended. */
    const supervise = (instance: LocalInstance): Effect.Effect<void> => {
      const watchHealth = Effect.gen(function* () {
        if (instance.isLive()) {
          const healthy = yield* probeHealth(instance.port, healthPath)
          if (instance.isLive() && instance.setHealthy(healthy)) {
            yield* healthy
              ? Effect.logInfo(`instance is ready at ${instance.address}`)
              : Effect.logWarning(`instance stopped answering ${healthPath}`)
          }
        }
        yield* Effect.sleep(instance.status() === "RUNNING" ? PROBE_WHEN_READY : PROBE_UNTIL_READY)
      }).pipe(Effect.forever)
      const watchExit = Deferred.await(instance.exited).pipe(
        Effect.flatMap((how) =>
          instance.status() === "TERMINATING"
            ? Effect.logInfo(`instance stopped (${how})`)
            : Effect.logWarning(`instance exited (${how}); its output is in ${instance.logFile}`)
        )
      )
      return Effect.raceFirst(watchExit, watchHealth).pipe(
        Effect.annotateLogs({ instance: instance.id, pid: String(instance.pid ?? "none") })
      )
    }

    const reservePort = Effect.gen(function* () {
      for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        const port = yield* freePort
        if (!reservedPorts.has(port)) {
          reservedPorts.add(port)
          return port
        }
      }
      return yield* new KraneLocalError({ message: `no free port after ${PORT_ATTEMPTS} attempts` })
    })

    const launch = (deployment: Deployment, request: RunRequest, n: number): Effect.Effect<void, KraneLocalError> =>
      Effect.gen(function* () {
        const port = yield* reservePort
        const id = `${deployment.deploymentId}-${n}`
        const launched = yield* Effect.try({
          // Checking `stopped` and recording the instance in one synchronous step: a concurrent
          // delete either sees this instance or stops us from spawning it.
          try: () => {
            if (deployment.stopped !== undefined) {
              reservedPorts.delete(port)
              return undefined
            }
            const dir = join(options.dataDir, "logs", safeName(deployment.namespace))
            mkdirSync(dir, { recursive: true })
            const instance = spawnInstance({
              id,
              command: request.command,
              env: request.env,
              port,
              cwd,
              logFile: join(dir, `${safeName(id)}.log`)
            })
            deployment.instances.push(instance)
            return instance
          },
          catch: (cause) => {
            reservedPorts.delete(port)
            return new KraneLocalError({ message: `cannot start ${id}: ${describeCause(cause)}` })
          }
        })
        if (launched !== undefined) yield* FiberSet.run(fibers, supervise(launched))
      })

    /** Begins stopping (once) and waits until the deployment is gone. */
    const stopDeployment = (deployment: Deployment): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (deployment.stopped !== undefined) return Effect.succeed(deployment.stopped)
        const stopped = Deferred.unsafeMake<void>(FiberId.none)
        deployment.stopped = stopped
        const instances = [...deployment.instances]
        const work = Effect.logInfo(`stopping ${instances.length} instance(s)`).pipe(
          Effect.zipRight(Effect.forEach(instances, (i) => i.stop(graceMs), { concurrency: "unbounded", discard: true })),
          Effect.ensuring(
            Effect.sync(() => {
              if (deployments.get(deployment.key) === deployment) deployments.delete(deployment.key)
              for (const i of instances) reservedPorts.delete(i.port)
              Deferred.unsafeDone(stopped, Exit.void)
            })
          ),
          Effect.annotateLogs({ namespace: deployment.namespace, deploymentId: deployment.deploymentId })
        )
        // Forked from an uninterruptible region (here, or the scope's release), the fiber would inherit
        // that. Nothing interrupts it early: the scope's release awaits every stop before closing `fibers`.
        return FiberSet.run(fibers, Effect.interruptible(work)).pipe(Effect.as(stopped))
      }).pipe(Effect.uninterruptible, Effect.flatMap(Deferred.await))

    const start = (request: RunRequest): Effect.Effect<StartOutcome, KraneLocalError> =>
      Effect.gen(function* () {
        if (closed) return yield* new KraneLocalError({ message: "krane-local is shutting down" })
        const key = keyOf(request.namespace, request.deploymentId)
        const existing = deployments.get(key)
        if (existing !== undefined) return existing.stopped === undefined ? "exists" : "terminating"
        const deployment: Deployment = {
          key,
          namespace: request.namespace,
          deploymentId: request.deploymentId,
          instances: [],
          stopped: undefined
        }
        deployments.set(key, deployment)
        yield* Effect.forEach(Array.from({ length: request.replicas }, (_, n) => n), (n) => launch(deployment, request, n), {
          discard: true
        }).pipe(
          // Never leave half a deployment behind.
          Effect.onError(() => stopDeployment(deployment))
        )
        yield* Effect.logInfo(`started ${request.replicas} instance(s): ${request.command.join(" ")}`)
        return "started" as const
      }).pipe(Effect.annotateLogs({ namespace: request.namespace, deploymentId: request.deploymentId }))

    const instances: ProcessDriver["instances"] = (namespace, deploymentId) =>
      Effect.sync(() =>
        Option.fromNullable(deployments.get(keyOf(namespace, deploymentId))).pipe(
          Option.map((d) => d.instances.map((i): KraneInstance => ({ id: i.id, address: i.address, status: i.status() })))
        )
      )

    const stop: ProcessDriver["stop"] = (namespace, deploymentId) =>
      Effect.suspend(() => {
        const deployment = deployments.get(keyOf(namespace, deploymentId))
        return deployment === undefined ? Effect.void : stopDeployment(deployment)
      })

    const stopAll: Effect.Effect<void> = Effect.suspend(() => {
      closed = true
      return Effect.forEach([...deployments.values()], stopDeployment, { concurrency: "unbounded", discard: true })
    })

    // Added after the FiberSet, so it runs first: stops finish before their fibers would be interrupted.
    yield* Effect.addFinalizer(() => stopAll)

    return { start, instances, stop, stopAll }
  })
