/**
 * Retirement (src/domain/retirement.ts) and the bounded command window (state.ts): which deployments
 * leave the hot state, and that a command is decided exactly as on the full state once the retired
 * deployments it names are reinstated; the route table written is the same too.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { CancelDeployment, Command, Promote, Rollback } from "../../src/domain/commands.js"
import { decide, type Message } from "../../src/domain/decide.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import {
  deploymentsNamedBy,
  mayBeRetired,
  mergeRetiredRoutes,
  missingReferences,
  noRetiredRoutes,
  rebuildRetiredRoutes,
  reinstate,
  retire,
  toReinstate,
  withRetiredRoutes,
  type RetiredRoutes
} from "../../src/domain/retirement.js"
import {
  evolveAll,
  evolveEnvelopes,
  handledWindow,
  initialState,
  wasHandled,
  type DeploymentState,
  type ProjectState
} from "../../src/domain/state.js"
import { nextSteps } from "../../src/domain/steps.js"
import { planPromote, planRollback, switchEvents } from "../../src/domain/switches.js"
import {
  branchHost,
  commitHost,
  context,
  createProject,
  deploy,
  deploymentHost,
  finish,
  liveHost,
  outcomeOf,
  preview,
  previewHost,
  production,
  productionHost,
  projectId,
  record,
  specNotFound,
  successOf,
  eventsOf
} from "./decider.js"

// ---------------------------------------------------------------------------------------------------
// A project built by the simulated actor: each deployment a Deploy, then its steps until none is due.

type Fate = "ready" | "failed" | "failed, not compensated" | "cancelled" | "in flight"

interface Shipped {
  readonly n: number
  readonly environment?: "production" | "preview"
  readonly fate?: Fate
  readonly branch?: string
  /** Reuse the commit of an earlier deployment. */
  readonly shaOf?: number
}

const id = (n: number): string => `dep_${n}`
const sha = (n: number): string => `${n.toString(16).padStart(7, "0")}abc`

const ship = (state: ProjectState, spec: Shipped): ProjectState => {
  const deploymentId = id(spec.n)
  const requested = record(
    state,
    deploy({
      deploymentId,
      environmentId: spec.environment === "preview" ? preview.id : production.id,
      git: { sha: sha(spec.shaOf ?? spec.n), branch: spec.branch ?? "main" }
    })
  )
  switch (spec.fate ?? "ready") {
    case "ready":
      return finish(requested, deploymentId)
    case "in flight":
      return requested
    case "failed":
    case "failed, not compensated": {
      const failed = record(requested, { type: "StepFailed", deploymentId, step: "krane-create", reason: "krane unavailable" })
      return spec.fate === "failed" ? finish(failed, deploymentId) : failed
    }
    case "cancelled": {
      const cancel: CancelDeployment = { type: "CancelDeployment", commandId: `cmd_cancel_${deploymentId}`, projectId, deploymentId }
      return finish(record(requested, cancel), deploymentId)
    }
  }
}

const project = (...deployments: ReadonlyArray<Shipped>): ProjectState =>
  deployments.reduce(ship, record(initialState, createProject()))

/**
 * Ten deployments: production ones on main (dep_6 on feature-x), dep_2 failed, dep_5 cancelled,
 * dep_3 and dep_8 in preview (dep_8 took the preview hostname from dep_3), dep_10 live.
 */
const history: ReadonlyArray<Shipped> = [
  { n: 1 },
  { n: 2, fate: "failed" },
  { n: 3, environment: "preview" },
  { n: 4 },
  { n: 5, fate: "cancelled" },
  { n: 6, branch: "feature-x" },
  { n: 7 },
  { n: 8, environment: "preview" },
  { n: 9 },
  { n: 10 }
]
// Every fixture state is built inside the test that uses it (functions, not module-level values), so
// mutation testing knows which tests cover the fold and the decider (docs/mutation.md).
const full = (): ProjectState => project(...history)

const rollback = (source: string, target: string): Rollback => ({
  type: "Rollback",
  commandId: "cmd_rollback",
  projectId,
  sourceDeploymentId: source,
  targetDeploymentId: target
})
const promote = (target: string): Promote => ({ type: "Promote", commandId: "cmd_promote", projectId, deploymentId: target })
const cancel = (target: string): CancelDeployment => ({ type: "CancelDeployment", commandId: "cmd_cancel", projectId, deploymentId: target })

/** `full` after a rollback from dep_10 to dep_4. */
const rolledBackTo4 = (): ProjectState => {
  const before = full()
  const plan = planRollback(before, rollback("dep_10", "dep_4"), 1)
  if (Either.isLeft(plan)) throw new Error(plan.left.message)
  return evolveAll(before, switchEvents(plan.right, 7), "cmd_rollback")
}

const noneBusy = () => false
const retiredIds = (state: ProjectState, keep: number, busy: (id: string) => boolean = noneBusy) =>
  retire(state, { keep, version: 100, busy }).retired.map((d) => d.id).sort()

// ---------------------------------------------------------------------------------------------------

describe("which deployments retire", () => {
  const cases: ReadonlyArray<{
    readonly name: string
    readonly state: () => ProjectState
    readonly keep: number
    readonly busy?: (deploymentId: string) => boolean
    readonly retired: ReadonlyArray<string>
  }> = [
    {
      name: "every finished one older than the 3 most recent, compensated failures and cancellations included",
      state: full,
      keep: 3,
      retired: ["dep_1", "dep_2", "dep_3", "dep_4", "dep_5", "dep_6", "dep_7"]
    },
    { name: "none within the most recent `keep`", state: full, keep: 10, retired: [] },
    { name: "keep 8: only the two oldest", state: full, keep: 8, retired: ["dep_1", "dep_2"] },
    {
      name: "not the live one (a rollback made dep_4 live; it also holds the live and environment hostnames)",
      state: rolledBackTo4,
      keep: 3,
      retired: ["dep_1", "dep_2", "dep_3", "dep_5", "dep_6", "dep_7"]
    },
    {
      name: "not the holder of an environment hostname (no newer preview deployment took it from dep_3)",
      state: () => project(...history.filter((d) => d.n !== 8)),
      keep: 3,
      retired: ["dep_1", "dep_2", "dep_4", "dep_5", "dep_6"]
    },
    {
      name: "nothing newer than a deployment still in flight (dep_5), nor dep_5 itself",
      state: () => project(...history.map((d) => (d.n === 5 ? { n: 5, fate: "in flight" as const } : d))),
      keep: 3,
      retired: ["dep_1", "dep_2", "dep_3", "dep_4"]
    },
    {
      name: "a failure still to compensate holds back itself and everything newer",
      state: () => project(...history.map((d) => (d.n === 2 ? { n: 2, fate: "failed, not compensated" as const } : d))),
      keep: 3,
      retired: ["dep_1"]
    },
    {
      name: "not a deployment with a step still running in the actor",
      state: full,
      keep: 3,
      busy: (deploymentId) => deploymentId === "dep_6",
      retired: ["dep_1", "dep_2", "dep_3", "dep_4", "dep_5", "dep_7"]
    }
  ]
  it.each(cases)("$name", ({ state, keep, busy, retired }) => {
    expect(retiredIds(state(), keep, busy)).toStrictEqual(retired)
  })

  it("keeps a deployment whose id cannot be a KV key (ids from commands always can)", () => {
    const before = full()
    const odd: DeploymentState = { ...(before.deployments["dep_1"] as DeploymentState), id: "dep.1" }
    const state: ProjectState = { ...before, deployments: { ...before.deployments, "dep.1": odd } }
    expect(retiredIds(state, 3)).not.toContain("dep.1")
  })

  it("leaves the order numbering, the live pointer and the command window as they were", () => {
    const before = full()
    const { state } = retire(before, { keep: 3, version: 100, busy: noneBusy })
    expect(Object.keys(state.deployments).sort()).toStrictEqual(["dep_10", "dep_8", "dep_9"])
    expect(state.deploymentCount).toBe(10)
    expect(state.deployments["dep_10"]?.order).toBe(10)
    expect(state.liveDeploymentId).toBe("dep_10")
    expect(state.handledCommands).toStrictEqual(before.handledCommands)
    expect(state.retired.routesAsOf).toBe(100)
  })

  it("moves the hostnames of retired deployments out of the hot routes, with their upstreams", () => {
    const { state, routes } = retire(full(), { keep: 3, version: 100, busy: noneBusy })
    expect(Object.keys(state.routes).sort()).toStrictEqual(
      [liveHost, productionHost, previewHost, deploymentHost("dep_8"), deploymentHost("dep_9"), deploymentHost("dep_10"), commitHost(sha(8)), commitHost(sha(9)), commitHost(sha(10)), branchHost("main")].sort()
    )
    expect(routes.routes[deploymentHost("dep_1")]).toStrictEqual({ deploymentId: "dep_1", sticky: "deployment", environmentId: production.id })
    expect(routes.routes[branchHost("feature-x")]?.deploymentId).toBe("dep_6")
    expect(routes.upstreams["dep_6"]).toStrictEqual(["10.0.0.1:8080"])
    // A compensated failure held no hostname: it leaves none behind.
    expect(Object.values(routes.routes).some((route) => route.deploymentId === "dep_2")).toBe(false)
  })
})

describe("the digest of retired ids", () => {
  const retiredState = () => retire(full(), { keep: 3, version: 100, busy: noneBusy }).state
  it.each(["dep_1", "dep_2", "dep_3", "dep_4", "dep_5", "dep_6", "dep_7"])("finds retired %s", (deploymentId) => {
    expect(mayBeRetired(retiredState(), deploymentId)).toBe(true)
  })
  it("misses ids never retired (a miss proves the id is new)", () => {
    const state = retiredState()
    const others = ["dep_8", "dep_9", "dep_10", "dep_11", "dep_new", ...Array.from({ length: 500 }, (_, i) => `dep_x${i}`)]
    expect(others.filter((deploymentId) => mayBeRetired(state, deploymentId))).toStrictEqual([])
  })
  it("grows with a second retirement and keeps the first one's ids", () => {
    const later = retire(ship(ship(retiredState(), { n: 11 }), { n: 12 }), { keep: 1, version: 200, busy: noneBusy })
    // dep_8 still holds the preview hostname; dep_12 is live.
    expect(later.retired.map((d) => d.id).sort()).toStrictEqual(["dep_10", "dep_11", "dep_9"])
    for (const deploymentId of ["dep_1", "dep_7", "dep_9", "dep_10", "dep_11"]) expect(mayBeRetired(later.state, deploymentId)).toBe(true)
    expect(later.state.retired.digest.length).toBe(10 * 7)
  })
})

// ---------------------------------------------------------------------------------------------------
// Decisions on the hot state (retired deployments brought back as the actor does) equal those on the
// full state.

/** What the actor does before deciding: reinstate the named retired deployments from the archive. */
const prepared = (hot: ProjectState, archive: ReadonlyArray<DeploymentState>, command: Command): ProjectState =>
  reinstate(
    hot,
    toReinstate(hot, deploymentsNamedBy(command)).flatMap((wanted) => archive.filter((d) => d.id === wanted))
  )

const decisionOf = (state: ProjectState, command: Command) =>
  command.type === "Rollback"
    ? planRollback(state, command, 1)
    : command.type === "Promote"
      ? planPromote(state, command, 1)
      : outcomeOf(decide(state, command, context))

describe("a command decides the same on the hot state", () => {
  const retired = () => retire(full(), { keep: 3, version: 100, busy: noneBusy })
  const commands: ReadonlyArray<{ readonly name: string; readonly command: Command }> = [
    { name: "Deploy reusing a retired id: deployment already exists", command: deploy({ deploymentId: "dep_1", commandId: "cmd_again" }) },
    { name: "Deploy reusing a retired failed id", command: deploy({ deploymentId: "dep_2", commandId: "cmd_again" }) },
    { name: "Deploy of a new id", command: deploy({ deploymentId: "dep_new", commandId: "cmd_new" }) },
    { name: "Rollback to a retired ready deployment", command: rollback("dep_10", "dep_4") },
    { name: "Rollback to a retired failed deployment", command: rollback("dep_10", "dep_2") },
    { name: "Rollback from a retired deployment that is not live", command: rollback("dep_4", "dep_1") },
    { name: "Rollback to a retired preview deployment", command: rollback("dep_10", "dep_3") },
    { name: "Promote of a retired deployment", command: promote("dep_7") },
    { name: "Cancel of a retired deployment", command: cancel("dep_1") },
    { name: "Cancel of an unknown deployment", command: cancel("dep_nope") }
  ]
  it.each(commands)("$name", ({ command }) => {
    const retirement = retired()
    const onHot = decisionOf(prepared(retirement.state, retirement.retired, command), command)
    expect(onHot).toStrictEqual(decisionOf(full(), command))
  })

  it("a Deploy reusing a retired id is rejected with Unkey's message", () => {
    const command = deploy({ deploymentId: "dep_1", commandId: "cmd_again" })
    const retirement = retired()
    expect(decisionOf(prepared(retirement.state, retirement.retired, command), command)).toStrictEqual({
      rejected: { code: "deployment_exists", message: "deployment already exists: dep_1" }
    })
  })

  it("a new deployment that takes hostnames from retired ones writes the same route table", () => {
    // dep_11 reuses dep_1's commit (its commit hostname) and dep_6's branch (feature-x).
    const next = (state: ProjectState) => {
      let current = record(state, deploy({ deploymentId: "dep_11", git: { sha: sha(1), branch: "feature-x" } }))
      for (let i = 0; i < 10; i++) {
        const step = nextSteps(current).find((s) => s.deploymentId === "dep_11")
        if (step?.kind === "assign-domains") return { state: current, step }
        if (step === undefined) break
        // The scrape's decision carries the route write: stop just before it, with the spec settled.
        current = step.kind === "scrape-openapi" ? evolveAll(current, [specNotFound("dep_11")], null) : record(current, successOf(current, step))
      }
      throw new Error("dep_11 never reached assign-domains")
    }
    const retirement = retired()
    const onFull = next(full())
    const onHot = next(retirement.state)
    expect(onHot.step.assign).toStrictEqual(onFull.step.assign)
    expect(onHot.step.withheld).toStrictEqual(onFull.step.withheld)
    expect(withRetiredRoutes(onHot.step.table, retirement.routes)).toEqual(onFull.step.table)
    expect(onFull.step.assign.map((d) => d.hostname)).toContain(commitHost(sha(1)))
    expect(onFull.step.assign.map((d) => d.hostname)).toContain(branchHost("feature-x"))

    // After it is recorded, the hot routes win over the retired ones that named dep_1 and dep_6.
    const fullAfter = finish(onFull.state, "dep_11")
    const hotAfter = finish(onHot.state, "dep_11")
    expect(effectiveRoutes(hotAfter, retirement.routes)).toEqual(fullAfter.routes)
  })

  it("a rollback to a retired deployment writes the same table, and replays onto the hot state", () => {
    const command = rollback("dep_10", "dep_4")
    const retirement = retired()
    const hot = prepared(retirement.state, retirement.retired, command)
    const plan = planRollback(hot, command, 1)
    if (Either.isLeft(plan)) throw new Error(plan.left.message)
    const events = switchEvents(plan.right, 9)
    const fullAfter = evolveAll(full(), events, command.commandId)
    const hotAfter = evolveAll(hot, events, command.commandId)
    expect(effectiveRoutes(hotAfter, retirement.routes)).toEqual(fullAfter.routes)
    expect(hotAfter.liveDeploymentId).toBe("dep_4")

    // A replay from the snapshot (dep_4 retired) folds the same events without dep_4: the loader
    // sees it is missing and reinstates it.
    const replayed = evolveAll(retirement.state, events, command.commandId)
    expect(missingReferences(replayed)).toStrictEqual(["dep_4"])
    expect(toReinstate(replayed, missingReferences(replayed))).toStrictEqual(["dep_4"])
    expect(missingReferences(reinstate(replayed, retirement.retired))).toStrictEqual([])
  })
})

const effectiveRoutes = (state: ProjectState, retired: RetiredRoutes) =>
  withRetiredRoutes({ projectId, routes: state.routes, upstreams: {} }, retired).routes

describe("the retired route table across retirements", () => {
  it("drops what a hot route has since given to another deployment, and adds what just left", () => {
    const first = retire(full(), { keep: 3, version: 100, busy: noneBusy })
    // dep_11 takes dep_6's branch hostname; then everything but the 2 newest retires.
    const later = ship(first.state, { n: 11, branch: "feature-x" })
    const second = retire(later, { keep: 2, version: 200, busy: noneBusy })
    const merged = mergeRetiredRoutes(first.routes, second)
    expect(merged.asOf).toBe(200)
    expect(merged.routes[branchHost("feature-x")]).toBeUndefined()
    expect(merged.routes[deploymentHost("dep_6")]?.deploymentId).toBe("dep_6")
    expect(merged.routes[deploymentHost("dep_9")]?.deploymentId).toBe("dep_9")
    expect(merged.routes[deploymentHost("dep_8")]).toBeUndefined() // dep_8 holds the preview hostname: still hot
    expect(effectiveRoutes(second.state, merged)).toEqual(project(...history, { n: 11, branch: "feature-x" }).routes)
  })

  it("can be rebuilt from the full state for a hot state", () => {
    const before = full()
    const { state, routes } = retire(before, { keep: 3, version: 100, busy: noneBusy })
    const rebuilt = rebuildRetiredRoutes(before, state, 100)
    expect(rebuilt).toStrictEqual(routes)
    expect(rebuildRetiredRoutes(before, before, 0)).toStrictEqual({ ...noRetiredRoutes, routes: {}, upstreams: {} })
  })
})

// ---------------------------------------------------------------------------------------------------

describe("the window of handled commands", () => {
  const deploys = (count: number) =>
    Array.from({ length: count }, (_, i) => deploy({ deploymentId: `dep_w${i + 1}`, commandId: `cmd_w${i + 1}` }))
  const after = (count: number) => deploys(count).reduce((state, command) => record(state, command), record(initialState, createProject()))

  const windows: ReadonlyArray<{ readonly name: string; readonly deploys: number; readonly first: string; readonly size: number }> = [
    { name: "holds every command while fewer than the window", deploys: 10, first: "cmd_create", size: 11 },
    { name: "is full at the window", deploys: handledWindow - 1, first: "cmd_create", size: handledWindow },
    { name: "drops the oldest beyond it", deploys: handledWindow + 44, first: "cmd_w45", size: handledWindow }
  ]
  it.each(windows)("$name", ({ deploys: count, first, size }) => {
    const state = after(count)
    expect(state.handledCommands.length).toBe(size)
    expect(state.handledCommands[0]).toBe(first)
    expect(state.handledCommands.at(-1)).toBe(`cmd_w${count}`)
  })

  const redeliveries: ReadonlyArray<{ readonly name: string; readonly commandNo: number; readonly outcome: unknown }> = [
    { name: "a redelivery of a recent command decides nothing", commandNo: handledWindow + 44, outcome: { events: [] } },
    { name: "a redelivery inside the window decides nothing", commandNo: 45, outcome: { events: [] } },
    {
      // The documented limit: past the window a Deploy is decided again, and its id already exists.
      name: "a redelivery from beyond the window is decided again",
      commandNo: 44,
      outcome: { rejected: { code: "deployment_exists", message: "deployment already exists: dep_w44" } }
    }
  ]
  it.each(redeliveries)("$name", ({ commandNo, outcome }) => {
    const state = after(handledWindow + 44)
    const again = deploy({ deploymentId: `dep_w${commandNo}`, commandId: `cmd_w${commandNo}` })
    expect(outcomeOf(decide(state, again, context))).toStrictEqual(outcome)
  })

  it("a replay folding more commands than the window at once keeps the newest, each once, oldest first", () => {
    const ids = Array.from({ length: handledWindow + 44 }, (_, i) => `cmd_r${i + 1}`)
    const envelopes = [...ids, "cmd_r300", "cmd_r1"].map((commandId) => ({ commandId, events: [] }))
    const replayed = evolveEnvelopes(initialState, envelopes)
    // cmd_r1 had left the window by the time it came again: it is recorded again, as the newest.
    expect(replayed.handledCommands).toStrictEqual([...ids.slice(45), "cmd_r1"])
    expect(evolveEnvelopes(initialState, ["cmd_a", "cmd_b", "cmd_a"].map((commandId) => ({ commandId, events: [] }))).handledCommands).toStrictEqual([
      "cmd_a",
      "cmd_b"
    ])
  })

  it("is not changed by a step result's envelope, nor by the same id twice", () => {
    const state = after(3)
    expect(evolveAll(state, [], null).handledCommands).toBe(state.handledCommands)
    expect(evolveAll(state, [], "cmd_w3").handledCommands).toStrictEqual(state.handledCommands)
    expect(wasHandled(state, "cmd_w2")).toBe(true)
    expect(wasHandled(state, "cmd_w9")).toBe(false)
  })
})

describe("folding many envelopes at once", () => {
  /** The simulated actor's envelopes for 40 deployments: what a replay without a snapshot folds. */
  const play = () => {
    const envelopes: Array<{ readonly commandId: string | null; readonly events: ReadonlyArray<ProjectEvent> }> = []
    const recording = (state: ProjectState, message: Message): ProjectState => {
      const events = eventsOf(decide(state, message, context))
      const commandId = "commandId" in message ? message.commandId : null
      envelopes.push({ commandId, events })
      return evolveAll(state, events, commandId)
    }
    let played = recording(initialState, createProject())
    for (let n = 1; n <= 40; n++) {
      played = recording(played, deploy({ deploymentId: id(n), git: { sha: sha(n), branch: n % 3 === 0 ? "feature-x" : "main" } }))
      for (let step = nextSteps(played)[0]; step !== undefined; step = nextSteps(played)[0]) played = recording(played, successOf(played, step))
    }
    return { envelopes, played }
  }

  it("equals folding one envelope at a time", () => {
    const { envelopes, played } = play()
    expect(evolveEnvelopes(initialState, envelopes)).toStrictEqual(played)
    expect(played.deploymentCount).toBe(40)
  })

  it("leaves the state it starts from as it was", () => {
    const { envelopes } = play()
    const start = evolveEnvelopes(initialState, envelopes.slice(0, 30))
    const copy = structuredClone(start)
    evolveEnvelopes(start, envelopes.slice(30))
    expect(start).toStrictEqual(copy)
  })
})
