/**
 * FakeKrane: a programmable in-memory Krane for orchestrator tests. Records every call, and lets a
 * test script failures, readiness (PENDING for n polls, or never), instance addresses, and hold
 * createDeployment at a gate. State lives in the closure; everything is deterministic.
 */
import { Effect, Layer } from "effect"
import {
  Krane,
  KraneDeploymentNotFound,
  type KraneDeploymentSpec,
  type KraneError,
  type KraneInstance,
  type KraneService
} from "../../src/adapters/krane/Krane.js"

export interface DeploymentRef {
  readonly namespace: string
  readonly deploymentId: string
}

export type FailureBudget = number | "always"

export type InstanceAddressFn = (spec: KraneDeploymentSpec, replica: number) => string

export interface FakeKraneOptions {
  /** When true, createDeployment waits until `openGate()` (the call is recorded before waiting). */
  readonly gate?: boolean
}

export interface FakeKrane {
  readonly layer: Layer.Layer<Krane>
  readonly service: KraneService
  /** Every createDeployment received, in order, including ones that failed or are held at the gate. */
  readonly createCalls: ReadonlyArray<KraneDeploymentSpec>
  readonly getCalls: ReadonlyArray<DeploymentRef>
  readonly deleteCalls: ReadonlyArray<DeploymentRef>
  readonly createsFor: (deploymentId: string) => number
  readonly failCreate: (times: FailureBudget, error: KraneError) => void
  readonly failGet: (times: FailureBudget, error: KraneError) => void
  readonly failDelete: (times: FailureBudget, error: KraneError) => void
  /** Instances report PENDING for the first n getDeployment calls per deployment, then RUNNING. Default 0. */
  readonly setReadyAfterPolls: (n: number) => void
  readonly neverReady: () => void
  readonly setInstanceAddress: (fn: InstanceAddressFn) => void
  /** Current instances without counting as a poll; empty when unknown. */
  readonly instancesFor: (deploymentId: string) => ReadonlyArray<KraneInstance>
  readonly has: (namespace: string, deploymentId: string) => boolean
  readonly deployments: () => ReadonlyArray<KraneDeploymentSpec>
  readonly openGate: () => void
  readonly closeGate: () => void
}

interface Stored {
  readonly spec: KraneDeploymentSpec
  polls: number
}

interface ScriptedFailure {
  remaining: FailureBudget
  error: KraneError
}

const keyOf = (namespace: string, deploymentId: string): string => `${namespace}/${deploymentId}`

const defaultAddress: InstanceAddressFn = (spec, replica) =>
  `${spec.deploymentId}-${replica}.krane.test:${spec.port ?? 8080}`

/** Consumes one scripted failure, if any is left. */
const takeFailure = (failure: ScriptedFailure | undefined): KraneError | undefined => {
  if (failure === undefined) return undefined
  if (failure.remaining === "always") return failure.error
  if (failure.remaining <= 0) return undefined
  failure.remaining -= 1
  return failure.error
}

export const makeFakeKrane = (options: FakeKraneOptions = {}): FakeKrane => {
  const stored = new Map<string, Stored>()
  const createCalls: Array<KraneDeploymentSpec> = []
  const getCalls: Array<DeploymentRef> = []
  const deleteCalls: Array<DeploymentRef> = []
  const failures: { create?: ScriptedFailure; get?: ScriptedFailure; delete?: ScriptedFailure } = {}
  let readyAfterPolls: number | "never" = 0
  let addressOf = defaultAddress
  const gate = Effect.unsafeMakeLatch(options.gate !== true)

  const instancesOf = (entry: Stored): ReadonlyArray<KraneInstance> => {
    const running = readyAfterPolls !== "never" && entry.polls > readyAfterPolls
    return Array.from({ length: entry.spec.replicas }, (_, replica) => ({
      id: `${entry.spec.deploymentId}-${replica}`,
      address: addressOf(entry.spec, replica),
      status: running ? "RUNNING" : "PENDING"
    }))
  }

  const createDeployment: KraneService["createDeployment"] = (spec) =>
    Effect.sync(() => createCalls.push(spec)).pipe(
      Effect.zipRight(gate.await),
      Effect.zipRight(
        Effect.suspend(() => {
          const error = takeFailure(failures.create)
          if (error !== undefined) return Effect.fail(error)
          const key = keyOf(spec.namespace, spec.deploymentId)
          // Idempotent like the real port: a repeat create keeps the first spec and its poll count.
          if (!stored.has(key)) stored.set(key, { spec, polls: 0 })
          return Effect.void
        })
      )
    )

  const getDeployment: KraneService["getDeployment"] = (namespace, deploymentId) =>
    Effect.suspend((): ReturnType<KraneService["getDeployment"]> => {
      getCalls.push({ namespace, deploymentId })
      const error = takeFailure(failures.get)
      if (error !== undefined) return Effect.fail(error)
      const entry = stored.get(keyOf(namespace, deploymentId))
      if (entry === undefined) return Effect.fail(new KraneDeploymentNotFound({ namespace, deploymentId }))
      entry.polls += 1
      return Effect.succeed(instancesOf(entry))
    })

  const deleteDeployment: KraneService["deleteDeployment"] = (namespace, deploymentId) =>
    Effect.suspend(() => {
      deleteCalls.push({ namespace, deploymentId })
      const error = takeFailure(failures.delete)
      if (error !== undefined) return Effect.fail(error)
      stored.delete(keyOf(namespace, deploymentId))
      return Effect.void
    })

  const service: KraneService = { createDeployment, getDeployment, deleteDeployment }

  return {
    layer: Layer.succeed(Krane, service),
    service,
    createCalls,
    getCalls,
    deleteCalls,
    createsFor: (deploymentId) => createCalls.filter((spec) => spec.deploymentId === deploymentId).length,
    failCreate: (times, error) => {
      failures.create = { remaining: times, error }
    },
    failGet: (times, error) => {
      failures.get = { remaining: times, error }
    },
    failDelete: (times, error) => {
      failures.delete = { remaining: times, error }
    },
    setReadyAfterPolls: (n) => {
      readyAfterPolls = n
    },
    neverReady: () => {
      readyAfterPolls = "never"
    },
    setInstanceAddress: (fn) => {
      addressOf = fn
    },
    instancesFor: (deploymentId) => {
      const entry = Array.from(stored.values()).find((e) => e.spec.deploymentId === deploymentId)
      return entry === undefined ? [] : instancesOf(entry)
    },
    has: (namespace, deploymentId) => stored.has(keyOf(namespace, deploymentId)),
    deployments: () => Array.from(stored.values(), (e) => e.spec),
    openGate: () => Effect.runSync(gate.open),
    closeGate: () => Effect.runSync(gate.close)
  }
}
