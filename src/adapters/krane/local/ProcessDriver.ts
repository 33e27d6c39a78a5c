/**
 * ProcessDriver: krane-local's deployments as local processes. Owns the table of deployments and
 * their instances, idempotent start, log-file assignment, recording the table in the state
 * file on every change and restoring it at start, and stopping one deployment or all of them.
 *
 * Across restarts of krane-local: a clean shutdown (its scope closing) stops every process but keeps
 * the deployments recorded, so the next start runs them again from their specs; after a crash the
 * next start adopts the processes still running (Reconcile) and restarts the missing ones. A
 * deployment whose deletion had begun is finished off instead.
 *
 * Each instance runs in its own working directory, `<instancesDir>/<namespace>/<instanceId>` (its
 * HOME too; removed with the deployment), as `runAs` when given (krane-local runs as root): the
 * directory is that user's, and only the directories above it are opened for traversal.
 */
import { chownSync, mkdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { Deferred, Effect, Exit, FiberId, FiberSet, Option, type Scope } from "effect"
import type { OsUser } from "../../../local/osUser.js"
import type { KraneInstance } from "../Krane.js"
import type { InstanceProcess } from "./InstanceProcess.js"
import { KraneLocalError, describeCause } from "./KraneLocalError.js"
import { makeLocalInstance, type LocalInstance } from "./LocalInstance.js"
import { makePortPool } from "./PortPool.js"
import { instanceMarker, reconcile } from "./Reconcile.js"
import { absoluteLocalPaths } from "../../../shared/localPaths.js"
import { spawnProcess } from "./SpawnedProcess.js"
import { loadState, saveState, type DeploymentRecord, type KraneLocalState } from "./StateFile.js"

export interface ProcessDriverOptions {
  /** Instance logs go to `<dataDir>/logs/<namespace>/<instanceId>.log`; the state file is `<dataDir>/state.json`. */
  readonly dataDir: string
  /** Path probed over HTTP for readiness; default "/". */
  readonly healthPath?: string | undefined
  /** How long a stopping process gets between SIGTERM and SIGKILL; default 5000. */
  readonly gracePeriodMs?: number | undefined
  /** Instances' working directories live under `<instancesDir>/<namespace>/`; created when missing. */
  readonly instancesDir: string
  /** The user instances run as; undefined: krane-local's own. */
  readonly runAs: OsUser | undefined
  /**
   * Default true. false: the scope's release leaves every process running and the state file as it
   * was, as if krane-local had crashed. For tests of restart reconciliation.
   */
  readonly stopChildrenOnClose?: boolean | undefined
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
  /** Shutdown: refuses further starts and stops every process, keeping the deployments recorded. Also runs when the driver's scope closes. */
  readonly stopAll: Effect.Effect<void>
}

interface Deployment {
  readonly key: string
  readonly spec: RunRequest
  readonly instances: Array<LocalInstance>
  /** Set once deletion begins; done when every process has exited and the deployment is forgotten. */
  stopped: Deferred.Deferred<void> | undefined
}

/** What an app left in its working directory goes with it; failing to remove it is not worth failing a delete. */
const removeQuietly = (dir: string): void => {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 2 })
  } catch {
    // left behind; the next deployment with this id reuses it
  }
}

const absoluteCommand = (command: readonly [string, ...Array<string>], cwd: string): readonly [string, ...Array<string>] => {
  const [file = command[0], ...args] = absoluteLocalPaths(command, cwd).command
  return [file, ...args]
}

const keyOf = (namespace: string, deploymentId: string) => JSON.stringify([namespace, deploymentId])
const safeName = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, "_") || "_"

export const makeProcessDriver = (options: ProcessDriverOptions): Effect.Effect<ProcessDriver, KraneLocalError, Scope.Scope> =>
  Effect.gen(function* () {
    const healthPath = options.healthPath ?? "/"
    const graceMs = options.gracePeriodMs ?? 5_000
    const deployments = new Map<string, Deployment>()
    const ports = makePortPool()
    let closed = false
    /** Set by a crash-like close: the state file keeps describing the processes left running. */
    let frozen = false
    let persistFailed = false

    const recorded = yield* loadState(options.dataDir)
    const { token } = recorded
    // Fails krane-local's start when the data dir is not writable, rather than its first deployment.
    yield* saveState(options.dataDir, recorded)

    const snapshot = (): KraneLocalState => ({
      version: 1,
      token,
      deployments: [...deployments.values()].map(
        (d): DeploymentRecord => ({
          namespace: d.spec.namespace,
          deploymentId: d.spec.deploymentId,
          command: d.spec.command,
          env: d.spec.env,
          replicas: d.spec.replicas,
          deleting: d.stopped !== undefined,
          instances: d.instances.map((i) => ({
            id: i.id,
            port: i.port(),
            pid: i.pid() ?? null,
            startedAt: i.startedAt() ?? null,
            restarts: i.restarts()
          }))
        })
      )
    })

    /** Records the table; a failure is logged (once until writes work again), never fatal. */
    const persist: Effect.Effect<void> = Effect.suspend(() =>
      frozen
        ? Effect.void
        : saveState(options.dataDir, snapshot()).pipe(
            Effect.tap(() => Effect.sync(() => (persistFailed = false))),
            Effect.catchAll((error) => {
              const first = !persistFailed
              persistFailed = true
              return first ? Effect.logError(error.message) : Effect.void
            })
          )
    )

    // Supervisors and stops run here: they outlive the request that began them, not the driver.
    const fibers = yield* FiberSet.make()

    const logDirOf = (namespace: string) => join(options.dataDir, "logs", safeName(namespace))
    const logFileOf = (namespace: string, id: string) => join(logDirOf(namespace), `${safeName(id)}.log`)
    const workDirOf = (namespace: string, id: string) => join(options.instancesDir, safeName(namespace), safeName(id))
    // Directories the instance's user only passes through (root's); its own is 0700 and its own.
    const passThroughMode = options.runAs === undefined ? 0o700 : 0o711

    /** The instance's working directory, created (or handed back) to the user it runs as. Throws when it cannot be. */
    const prepareWorkDir = (namespace: string, id: string): string => {
      const dir = workDirOf(namespace, id)
      mkdirSync(join(options.instancesDir, safeName(namespace)), { recursive: true, mode: passThroughMode })
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      if (options.runAs !== undefined) chownSync(dir, options.runAs.uid, options.runAs.gid)
      return dir
    }

    /** Throws when the process cannot even be attempted (log file or working directory unwritable). */
    const spawnFor = (deployment: Deployment, id: string, port: number, restarts: number): InstanceProcess => {
      const { spec } = deployment
      mkdirSync(logDirOf(spec.namespace), { recursive: true, mode: 0o700 })
      return spawnProcess({
        id,
        command: spec.command,
        env: spec.env,
        port,
        cwd: prepareWorkDir(spec.namespace, id),
        user: options.runAs,
        logFile: logFileOf(spec.namespace, id),
        marker: instanceMarker(token, spec.namespace, id),
        restarts
      })
    }

    const makeInstance = (deployment: Deployment, id: string, port: number, restarts: number, process: InstanceProcess | undefined) =>
      makeLocalInstance({
        id,
        logFile: logFileOf(deployment.spec.namespace, id),
        port,
        restarts,
        process,
        hooks: {
          healthPath,
          spawn: (port, restarts) => spawnFor(deployment, id, port, restarts),
          portFor: ports.portFor,
          changed: persist
        }
      })

    const supervise = (deployment: Deployment, instance: LocalInstance) =>
      FiberSet.run(
        fibers,
        instance.supervise.pipe(Effect.annotateLogs({ namespace: deployment.spec.namespace, deploymentId: deployment.spec.deploymentId }))
      )

    const launch = (deployment: Deployment, n: number): Effect.Effect<void, KraneLocalError> =>
      Effect.gen(function* () {
        const port = yield* ports.reserve
        const id = `${deployment.spec.deploymentId}-${n}`
        const launched = yield* Effect.try({
          // Checking `stopped` and recording the instance in one synchronous step: a concurrent
          // delete either sees this instance or stops us from spawning it.
          try: () => {
            if (deployment.stopped !== undefined) {
              ports.release(port)
              return undefined
            }
            // A shutdown's stopAll has already chosen what to stop.
            if (closed) throw new Error("krane-local is shutting down")
            const instance = makeInstance(deployment, id, port, 0, spawnFor(deployment, id, port, 0))
            deployment.instances.push(instance)
            return instance
          },
          catch: (cause) => {
            ports.release(port)
            return new KraneLocalError({ message: `cannot start ${id}: ${describeCause(cause)}` })
          }
        })
        if (launched !== undefined) yield* supervise(deployment, launched)
      })

    /** Begins stopping (once) and waits until the deployment is gone. */
    const stopDeployment = (deployment: Deployment): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (deployment.stopped !== undefined) return Effect.succeed(deployment.stopped)
        const stopped = Deferred.unsafeMake<void>(FiberId.none)
        deployment.stopped = stopped
        const instances = [...deployment.instances]
        const work = Effect.logInfo(`stopping ${instances.length} instance(s)`).pipe(
          Effect.zipRight(persist),
          Effect.zipRight(Effect.forEach(instances, (i) => i.stop(graceMs), { concurrency: "unbounded", discard: true })),
          Effect.ensuring(
            Effect.sync(() => {
              if (deployments.get(deployment.key) === deployment) deployments.delete(deployment.key)
              for (const i of instances) {
                ports.release(i.port())
                removeQuietly(workDirOf(deployment.spec.namespace, i.id))
              }
            }).pipe(
              Effect.zipRight(persist),
              Effect.ensuring(Effect.sync(() => Deferred.unsafeDone(stopped, Exit.void)))
            )
          ),
          Effect.annotateLogs({ namespace: deployment.spec.namespace, deploymentId: deployment.spec.deploymentId })
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
        const deployment: Deployment = { key, spec: request, instances: [], stopped: undefined }
        deployments.set(key, deployment)
        yield* Effect.forEach(Array.from({ length: request.replicas }, (_, n) => n), (n) => launch(deployment, n), {
          discard: true
        }).pipe(
          // Never leave half a deployment behind.
          Effect.onError(() => stopDeployment(deployment))
        )
        yield* persist
        yield* Effect.logInfo(`started ${request.replicas} instance(s): ${request.command.join(" ")}`)
        return "started" as const
      }).pipe(Effect.annotateLogs({ namespace: request.namespace, deploymentId: request.deploymentId }))

    /** Brings back a recorded deployment: adopted processes kept, the others started again; a deletion finished. */
    const restore = (record: DeploymentRecord, adopted: ReadonlyMap<string, InstanceProcess>): Effect.Effect<void> =>
      Effect.gen(function* () {
        const { deleting, instances: _instances, cwd: sharedCwd, ...recordedSpec } = record
        // Recorded when every instance ran in one shared directory: its relative paths now made absolute.
        const spec: RunRequest =
          sharedCwd === undefined ? recordedSpec : { ...recordedSpec, command: absoluteCommand(recordedSpec.command, sharedCwd) }
        const deployment: Deployment = { key: keyOf(spec.namespace, spec.deploymentId), spec, instances: [], stopped: undefined }
        deployments.set(deployment.key, deployment)
        for (const recordedInstance of record.instances) {
          const survivor = adopted.get(instanceMarker(token, spec.namespace, recordedInstance.id))
          if (deleting && survivor === undefined) continue
          ports.hold(recordedInstance.port)
          deployment.instances.push(makeInstance(deployment, recordedInstance.id, recordedInstance.port, recordedInstance.restarts, survivor))
        }
        if (deleting) {
          yield* Effect.logInfo(`finishing the deletion begun before krane-local restarted`)
          yield* FiberSet.run(fibers, stopDeployment(deployment))
          return
        }
        const running = deployment.instances.filter((i) => adopted.has(instanceMarker(token, spec.namespace, i.id))).length
        yield* Effect.logInfo(
          `restored from ${record.instances.length} recorded instance(s): ${running} still running, ${deployment.instances.length - running} to start`
        )
        for (const instance of deployment.instances) yield* supervise(deployment, instance)
      }).pipe(Effect.annotateLogs({ namespace: record.namespace, deploymentId: record.deploymentId }))

    const instances: ProcessDriver["instances"] = (namespace, deploymentId) =>
      Effect.sync(() =>
        Option.fromNullable(deployments.get(keyOf(namespace, deploymentId))).pipe(
          Option.map((d) => d.instances.map((i): KraneInstance => ({ id: i.id, address: i.address(), status: i.status() })))
        )
      )

    const stop: ProcessDriver["stop"] = (namespace, deploymentId) =>
      Effect.suspend(() => {
        const deployment = deployments.get(keyOf(namespace, deploymentId))
        return deployment === undefined ? Effect.void : stopDeployment(deployment)
      })

    /** Stops processes but keeps the deployments (and the state file's record of them) for the next start. */
    const stopAll: Effect.Effect<void> = Effect.suspend(() => {
      closed = true
      return Effect.forEach(
        [...deployments.values()],
        (d) =>
          d.stopped !== undefined
            ? Deferred.await(d.stopped)
            : Effect.forEach(d.instances, (i) => i.stop(graceMs), { concurrency: "unbounded", discard: true }),
        { concurrency: "unbounded", discard: true }
      ).pipe(Effect.ensuring(persist))
    })

    // Added after the FiberSet, so it runs first: stops finish before their fibers would be interrupted.
    yield* Effect.addFinalizer(() =>
      options.stopChildrenOnClose === false
        ? Effect.sync(() => {
            closed = true
            frozen = true
          })
        : stopAll
    )

    const adopted = yield* reconcile(recorded)
    for (const record of recorded.deployments) yield* restore(record, adopted)
    yield* persist

    return { start, instances, stop, stopAll }
  })
