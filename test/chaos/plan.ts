/**
 * What a chaos round does, decided up front from (seed, round) alone: the storm of commands (which
 * project, which deployment, when) and the faults (which, when, for how long). Running a round again
 * with the same seed and round number replays the same plan; only the timing of the real processes
 * differs. Pure: no I/O here.
 */
import type { KraneMethod } from "../../src/adapters/krane/KraneWire.js"

/** mulberry32: a small, fast, seedable PRNG; returns numbers in [0, 1). */
export const makeRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The random source of one round: independent of every other round's. */
export const roundRandom = (seed: number, round: number): (() => number) => {
  const warmup = makeRandom(Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(round, 0x85ebca6b))
  warmup()
  return warmup
}

export type Op =
  | { readonly kind: "create"; readonly projectId: string }
  | {
      readonly kind: "deploy"
      readonly projectId: string
      readonly deploymentId: string
      readonly environmentId: "env_prod" | "env_prev"
      readonly replicas: number
    }
  /** `pick` in [0, 1) chooses among the candidates the log offers when the op runs. */
  | { readonly kind: "rollback" | "promote" | "cancel"; readonly projectId: string; readonly pick: number }

export interface TimedOp {
  readonly atMs: number
  readonly op: Op
}

export type FaultKind = "orchestrator-kill" | "nats-kill" | "pg-stop" | "krane-5xx" | "krane-hang"

export const faultKinds: ReadonlyArray<FaultKind> = ["orchestrator-kill", "nats-kill", "pg-stop", "krane-5xx", "krane-hang"]

export interface PlannedFault {
  readonly kind: FaultKind
  readonly atMs: number
  /** How long the fault lasts (0 for a kill the supervisor heals by itself). */
  readonly forMs: number
  /** Krane faults only. */
  readonly methods?: ReadonlyArray<KraneMethod>
  readonly probability?: number
}

export interface StormSize {
  readonly projects: number
  readonly deploysPerProject: number
  /** Rollbacks, promotes and cancels in the whole round. */
  readonly lifecycleOps: number
  /** The window the commands are spread over. */
  readonly stormMs: number
  /** Every fault kind in every round (else each kind with probability 0.75, at least one). */
  readonly everyFault: boolean
}

export const fullStorm: StormSize = { projects: 4, deploysPerProject: 5, lifecycleOps: 10, stormMs: 8_000, everyFault: false }
export const ciStorm: StormSize = { projects: 2, deploysPerProject: 3, lifecycleOps: 4, stormMs: 4_000, everyFault: true }

export interface RoundPlan {
  readonly seed: number
  readonly round: number
  readonly projects: ReadonlyArray<string>
  readonly ops: ReadonlyArray<TimedOp>
  readonly faults: ReadonlyArray<PlannedFault>
  /** GetDeployment answers PENDING this many times per deployment before RUNNING. */
  readonly readyAfterPolls: number
}

const kraneMethods: ReadonlyArray<KraneMethod> = ["CreateDeployment", "GetDeployment", "DeleteDeployment"]

export const planRound = (seed: number, round: number, size: StormSize): RoundPlan => {
  const random = roundRandom(seed, round)
  const between = (low: number, high: number) => Math.floor(low + random() * (high - low))
  const pickOf = <A>(items: ReadonlyArray<A>): A => {
    const item = items[Math.floor(random() * items.length)]
    if (item === undefined) throw new Error("pickOf: no items")
    return item
  }
  const prefix = `c${seed}r${round}`
  const projects = Array.from({ length: size.projects }, (_, i) => `${prefix}p${i}`)
  const ops: Array<TimedOp> = []
  for (const projectId of projects) {
    const createdAt = between(0, size.stormMs * 0.1)
    ops.push({ atMs: createdAt, op: { kind: "create", projectId } })
    for (let d = 0; d < size.deploysPerProject; d++) {
      ops.push({
        atMs: between(createdAt + 50, size.stormMs),
        op: {
          kind: "deploy",
          projectId,
          deploymentId: `${projectId}d${d}`,
          environmentId: random() < 0.8 ? "env_prod" : "env_prev",
          replicas: random() < 0.7 ? 1 : 2
        }
      })
    }
  }
  for (let i = 0; i < size.lifecycleOps; i++) {
    const roll = random()
    const kind = roll < 0.4 ? "rollback" : roll < 0.7 ? "promote" : "cancel"
    ops.push({ atMs: between(size.stormMs * 0.2, size.stormMs * 1.2), op: { kind, projectId: pickOf(projects), pick: random() } })
  }
  ops.sort((a, b) => a.atMs - b.atMs)

  let kinds = faultKinds.filter(() => size.everyFault || random() < 0.75)
  if (kinds.length === 0) kinds = [pickOf(faultKinds)]
  const faults: Array<PlannedFault> = []
  for (const kind of kinds) {
    const atMs = between(size.stormMs * 0.1, size.stormMs * 0.9)
    switch (kind) {
      case "orchestrator-kill":
        faults.push({ kind, atMs, forMs: 0 })
        if (random() < 0.5) faults.push({ kind, atMs: between(atMs + 1_000, size.stormMs * 1.3), forMs: 0 })
        break
      case "nats-kill":
        faults.push({ kind, atMs, forMs: between(300, 2_500) })
        break
      case "pg-stop":
        faults.push({ kind, atMs, forMs: between(500, 4_000) })
        break
      case "krane-5xx":
      case "krane-hang":
        faults.push({
          kind,
          atMs,
          forMs: between(500, 4_000),
          methods: random() < 0.5 ? kraneMethods : [pickOf(kraneMethods)],
          probability: random() < 0.5 ? 1 : 0.3 + random() * 0.6
        })
        break
    }
  }
  faults.sort((a, b) => a.atMs - b.atMs)
  return { seed, round, projects, ops, faults, readyAfterPolls: between(0, 4) }
}
