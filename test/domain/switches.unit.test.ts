/**
 * Rollback and Promote (Unkey spec 3.6, 3.7, 5.4, 5.5): every validation in its order with its exact
 * code and message, the plans of the accepted ones, and the events a carried-out plan records.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { Deploy, GitInfo, Promote, Rollback } from "../../src/domain/commands.js"
import type { Rejection } from "../../src/domain/decide.js"
import type { DomainAssignment, ProjectEvent } from "../../src/domain/events.js"
import { evolveAll, initialState, type ProjectState } from "../../src/domain/state.js"
import {
  planPromote,
  planRollback,
  stickyDomainsOf,
  switchEvents,
  type SwitchDecision,
  type SwitchPlan
} from "../../src/domain/switches.js"
import {
  branchHost,
  commitHost,
  deploy,
  deploymentAt,
  deploymentHost,
  deploymentReady,
  finish,
  liveHost,
  liveSwitched,
  preview,
  previewHost,
  production,
  productionHost,
  projectCreated,
  projectId,
  record,
  routeMap,
  stateOf,
  type History
} from "./decider.js"

// ---------------------------------------------------------------------------------------------------
// Helpers

type SwitchOutcome =
  | { readonly plan: SwitchPlan }
  | { readonly rejected: { readonly code: Rejection["code"]; readonly message: string } }

const outcomeOfSwitch = (decision: SwitchDecision): SwitchOutcome =>
  Either.match(decision, {
    onLeft: (rejection) => ({ rejected: { code: rejection.code, message: rejection.message } }),
    onRight: (plan) => ({ plan })
  })

const rejectedWith = (code: Rejection["code"], message: string): SwitchOutcome => ({ rejected: { code, message } })

const rollback = (sourceDeploymentId: string, targetDeploymentId: string): Rollback => ({
  type: "Rollback",
  commandId: "cmd_rollback",
  projectId,
  sourceDeploymentId,
  targetDeploymentId
})

const promote = (deploymentId: string): Promote => ({ type: "Promote", commandId: "cmd_promote", projectId, deploymentId })

const live: DomainAssignment = { hostname: liveHost, sticky: "live" }
const productionEnv: DomainAssignment = { hostname: productionHost, sticky: "environment" }
/** The production sticky hostnames, sorted by hostname (`shop-acme` < `shop-production-acme`). */
const productionSticky: ReadonlyArray<DomainAssignment> = [live, productionEnv]

const move = (
  reason: "rollback" | "promote",
  targetId: string,
  fromLive: string | null,
  domains: ReadonlyArray<DomainAssignment> = productionSticky
): SwitchOutcome => ({ plan: { _tag: "Move", reason, targetId, fromLive, domains } })

const cancelled = (deploymentId: string): ProjectEvent => ({
  type: "DeploymentCancelled",
  deploymentId,
  step: "await-instances",
  commandId: `cmd_cancel_${deploymentId}`
})

const inPreview = { environmentId: preview.id } as const

// ---------------------------------------------------------------------------------------------------
// Histories

/** dep_1 then dep_2 ready in production, dep_2 live and holding the live and environment hostnames. */
const twoLive: History = [
  projectCreated,
  ...deploymentAt("dep_1", "ready"),
  liveSwitched(null, "dep_1"),
  ...deploymentAt("dep_2", "ready"),
  liveSwitched("dep_1", "dep_2")
]

/** twoLive, then rolled back to dep_1 (the live and environment hostnames point at dep_1). */
const rolledBackToOne: History = [
  ...twoLive,
  { type: "DomainsSwitched", toDeploymentId: "dep_1", domains: productionSticky, reason: "rollback", routeRevision: 9 },
  liveSwitched("dep_2", "dep_1", "rollback")
]

/** dep_1 and dep_2 ready without any recorded hostnames, dep_2 live. */
const noDomains: History = [
  projectCreated,
  ...deploymentAt("dep_1", "spec-not-found"),
  deploymentReady("dep_1"),
  liveSwitched(null, "dep_1"),
  ...deploymentAt("dep_2", "spec-not-found"),
  deploymentReady("dep_2"),
  liveSwitched("dep_1", "dep_2")
]

/** twoLive plus dep_3 at the given stage (or status). */
const withThird = (...third: ReadonlyArray<ProjectEvent>): History => [...twoLive, ...third]

const notReadyStages: ReadonlyArray<{ readonly status: string; readonly third: ReadonlyArray<ProjectEvent> }> = [
  { status: "pending", third: deploymentAt("dep_3", "building").slice(0, 1) },
  { status: "building", third: deploymentAt("dep_3", "building") },
  { status: "deploying", third: deploymentAt("dep_3", "deploying") },
  { status: "deploying", third: deploymentAt("dep_3", "spec-captured") },
  { status: "failed", third: deploymentAt("dep_3", "failed") },
  { status: "cancelled", third: [...deploymentAt("dep_3", "deploying"), cancelled("dep_3")] }
]

/** A preview deployment made live by hand: a state Berth never records, to reach the production check. */
const previewLive: History = [
  projectCreated,
  ...deploymentAt("prev_1", "ready", inPreview),
  liveSwitched(null, "prev_1"),
  ...deploymentAt("prev_2", "ready", inPreview)
]

// ---------------------------------------------------------------------------------------------------
// Rollback

interface RollbackCase {
  readonly name: string
  readonly given: History
  readonly source: string
  readonly target: string
  readonly runningInstances?: number
  readonly expected: SwitchOutcome
}

const rollbackCases: ReadonlyArray<RollbackCase> = [
  // 1. source == target, before anything else
  {
    name: "source == target",
    given: twoLive,
    source: "dep_2",
    target: "dep_2",
    expected: rejectedWith("invalid_input", "source and target deployments must be different")
  },
  {
    name: "source == target is checked before the project exists",
    given: [],
    source: "dep_1",
    target: "dep_1",
    expected: rejectedWith("invalid_input", "source and target deployments must be different")
  },
  {
    name: "source == target is checked before the deployment exists and before running instances",
    given: twoLive,
    source: "dep_9",
    target: "dep_9",
    runningInstances: 0,
    expected: rejectedWith("invalid_input", "source and target deployments must be different")
  },
  // 2. the project
  {
    name: "no project",
    given: [],
    source: "dep_2",
    target: "dep_1",
    expected: rejectedWith("project_not_found", "project not found: proj_1")
  },
  // 3. source, then target, exist
  {
    name: "unknown source",
    given: twoLive,
    source: "dep_9",
    target: "dep_1",
    expected: rejectedWith("deployment_not_found", "source deployment not found: dep_9")
  },
  {
    name: "unknown source and unknown target -> the source's message first",
    given: twoLive,
    source: "dep_9",
    target: "dep_8",
    expected: rejectedWith("deployment_not_found", "source deployment not found: dep_9")
  },
  {
    name: "unknown target",
    given: twoLive,
    source: "dep_2",
    target: "dep_9",
    expected: rejectedWith("deployment_not_found", "target deployment not found: dep_9")
  },
  // 4. same environment
  {
    name: "target in another environment",
    given: [...twoLive, ...deploymentAt("prev_1", "ready", inPreview)],
    source: "dep_2",
    target: "prev_1",
    expected: rejectedWith("precondition_failed", "deployments must be in the same environment")
  },
  {
    name: "environment is checked before the live check (source is not live either)",
    given: [...twoLive, ...deploymentAt("prev_1", "ready", inPreview)],
    source: "prev_1",
    target: "dep_1",
    expected: rejectedWith("precondition_failed", "deployments must be in the same environment")
  },
  // 5. source is live
  {
    name: "source is not the live deployment",
    given: twoLive,
    source: "dep_1",
    target: "dep_2",
    expected: rejectedWith("precondition_failed", "source deployment is not the current live deployment")
  },
  {
    name: "project has no live deployment",
    given: [projectCreated, ...deploymentAt("dep_1", "ready"), ...deploymentAt("dep_2", "ready")],
    source: "dep_2",
    target: "dep_1",
    expected: rejectedWith("precondition_failed", "source deployment is not the current live deployment")
  },
  {
    name: "while rolled back, the rolled-back-from deployment is no longer the source",
    given: rolledBackToOne,
    source: "dep_2",
    target: "dep_1",
    expected: rejectedWith("precondition_failed", "source deployment is not the current live deployment")
  },
  {
    name: "live check comes before the target's status",
    given: withThird(...deploymentAt("dep_3", "building")),
    source: "dep_1",
    target: "dep_3",
    expected: rejectedWith("precondition_failed", "source deployment is not the current live deployment")
  },
  // 6. target is ready
  ...notReadyStages.map(
    ({ status, third }): RollbackCase => ({
      name: `target ${status} (${third[third.length - 1]?.type ?? ""})`,
      given: withThird(...third),
      source: "dep_2",
      target: "dep_3",
      expected: rejectedWith("precondition_failed", `The deployment is not ready. (dep_3 is ${status})`)
    })
  ),
  {
    name: "target status is checked before running instances",
    given: withThird(...deploymentAt("dep_3", "building")),
    source: "dep_2",
    target: "dep_3",
    runningInstances: 0,
    expected: rejectedWith("precondition_failed", "The deployment is not ready. (dep_3 is building)")
  },
  // 7. production only
  {
    name: "preview deployments are not rolled back",
    given: previewLive,
    source: "prev_1",
    target: "prev_2",
    expected: rejectedWith("precondition_failed", "Only production deployments can be promoted or rolled back.")
  },
  {
    name: "production is checked before running instances",
    given: previewLive,
    source: "prev_1",
    target: "prev_2",
    runningInstances: 0,
    expected: rejectedWith("precondition_failed", "Only production deployments can be promoted or rolled back.")
  },
  // 8. running instances
  {
    name: "target has no running instances",
    given: twoLive,
    source: "dep_2",
    target: "dep_1",
    runningInstances: 0,
    expected: rejectedWith("precondition_failed", "no running VMs found for target deployment: dep_1")
  },
  {
    name: "running instances are checked before the domains",
    given: noDomains,
    source: "dep_2",
    target: "dep_1",
    runningInstances: 0,
    expected: rejectedWith("precondition_failed", "no running VMs found for target deployment: dep_1")
  },
  // 9. sticky domains to move
  {
    name: "no live or environment hostnames",
    given: noDomains,
    source: "dep_2",
    target: "dep_1",
    expected: rejectedWith("precondition_failed", "no domains to rollback")
  },
  {
    name: "only another environment's sticky hostnames -> none to move",
    given: [...noDomains, ...deploymentAt("prev_1", "ready", inPreview)],
    source: "dep_2",
    target: "dep_1",
    expected: rejectedWith("precondition_failed", "no domains to rollback")
  },
  // accepted
  {
    name: "accepted: the live and environment hostnames move to the target",
    given: twoLive,
    source: "dep_2",
    target: "dep_1",
    expected: move("rollback", "dep_1", "dep_2")
  },
  {
    name: "accepted with more than one running instance",
    given: twoLive,
    source: "dep_2",
    target: "dep_1",
    runningInstances: 3,
    expected: move("rollback", "dep_1", "dep_2")
  },
  {
    name: "accepted while rolled back: from the rolled-back-to deployment to another (even a newer one)",
    given: rolledBackToOne,
    source: "dep_1",
    target: "dep_2",
    expected: move("rollback", "dep_2", "dep_1")
  },
  {
    name: "accepted: another environment's hostnames are not part of the plan",
    given: [...twoLive, ...deploymentAt("prev_1", "ready", inPreview)],
    source: "dep_2",
    target: "dep_1",
    expected: move("rollback", "dep_1", "dep_2")
  }
]

describe("planRollback", () => {
  it.each(rollbackCases)("$name", ({ given, source, target, runningInstances, expected }) => {
    const outcome = outcomeOfSwitch(planRollback(stateOf(given), rollback(source, target), runningInstances ?? 1))
    expect(outcome).toStrictEqual(expected)
  })
})

// ---------------------------------------------------------------------------------------------------
// Promote

interface PromoteCase {
  readonly name: string
  readonly given: History
  readonly target: string
  readonly runningInstances?: number
  readonly expected: SwitchOutcome
}

const promoteCases: ReadonlyArray<PromoteCase> = [
  // 1. the project
  { name: "no project", given: [], target: "dep_1", expected: rejectedWith("project_not_found", "project not found: proj_1") },
  // 2. the target exists
  {
    name: "unknown target",
    given: twoLive,
    target: "dep_9",
    expected: rejectedWith("deployment_not_found", "deployment not found: dep_9")
  },
  {
    name: "unknown target, no live deployment, no running instances -> existence first",
    given: [projectCreated],
    target: "dep_9",
    runningInstances: 0,
    expected: rejectedWith("deployment_not_found", "deployment not found: dep_9")
  },
  // 3. ready
  ...notReadyStages.map(
    ({ status, third }): PromoteCase => ({
      name: `target ${status} (${third[third.length - 1]?.type ?? ""})`,
      given: withThird(...third),
      target: "dep_3",
      expected: rejectedWith("precondition_failed", `deployment status must be ready, got: ${status}`)
    })
  ),
  {
    name: "status is checked before the live deployment",
    given: [projectCreated, ...deploymentAt("dep_1", "deploying")],
    target: "dep_1",
    expected: rejectedWith("precondition_failed", "deployment status must be ready, got: deploying")
  },
  // 4. a live deployment
  {
    name: "project has no live deployment",
    given: [projectCreated, ...deploymentAt("dep_1", "ready")],
    target: "dep_1",
    expected: rejectedWith("precondition_failed", "project has no live deployment")
  },
  {
    name: "the live check comes before the production check",
    given: [projectCreated, ...deploymentAt("prev_1", "ready", inPreview)],
    target: "prev_1",
    expected: rejectedWith("precondition_failed", "project has no live deployment")
  },
  // 5. production only
  {
    name: "preview deployments are not promoted",
    given: [...twoLive, ...deploymentAt("prev_1", "ready", inPreview)],
    target: "prev_1",
    expected: rejectedWith("precondition_failed", "Only production deployments can be promoted or rolled back.")
  },
  {
    name: "production is checked before running instances",
    given: [...twoLive, ...deploymentAt("prev_1", "ready", inPreview)],
    target: "prev_1",
    runningInstances: 0,
    expected: rejectedWith("precondition_failed", "Only production deployments can be promoted or rolled back.")
  },
  // 6. running instances
  {
    name: "target has no running instances",
    given: twoLive,
    target: "dep_1",
    runningInstances: 0,
    expected: rejectedWith("precondition_failed", "no running VMs found for target deployment: dep_1")
  },
  {
    name: "running instances are checked before 'already live'",
    given: twoLive,
    target: "dep_2",
    runningInstances: 0,
    expected: rejectedWith("precondition_failed", "no running VMs found for target deployment: dep_2")
  },
  {
    name: "running instances are checked before a confirm",
    given: rolledBackToOne,
    target: "dep_1",
    runningInstances: 0,
    expected: rejectedWith("precondition_failed", "no running VMs found for target deployment: dep_1")
  },
  // 7. not already live, unless confirming a rollback
  {
    name: "target is already live (not rolled back)",
    given: twoLive,
    target: "dep_2",
    expected: rejectedWith("precondition_failed", "target deployment is already the live deployment")
  },
  {
    name: "rolled back and the target is the live one -> confirm the rollback",
    given: rolledBackToOne,
    target: "dep_1",
    expected: { plan: { _tag: "Confirm", targetId: "dep_1" } }
  },
  {
    name: "a confirm moves nothing, so it needs no hostnames",
    given: [
      ...noDomains,
      liveSwitched("dep_2", "dep_1", "rollback")
    ],
    target: "dep_1",
    expected: { plan: { _tag: "Confirm", targetId: "dep_1" } }
  },
  // 8. sticky domains to move
  {
    name: "no live or environment hostnames",
    given: noDomains,
    target: "dep_1",
    expected: rejectedWith("precondition_failed", "no domains found for promotion")
  },
  {
    name: "only another environment's sticky hostnames -> none to move",
    given: [...noDomains, ...deploymentAt("prev_1", "ready", inPreview)],
    target: "dep_1",
    expected: rejectedWith("precondition_failed", "no domains found for promotion")
  },
  // accepted
  {
    name: "accepted: an older ready deployment takes the live and environment hostnames",
    given: twoLive,
    target: "dep_1",
    expected: move("promote", "dep_1", "dep_2")
  },
  {
    name: "accepted while rolled back: the rolled-back-from deployment (a real move)",
    given: rolledBackToOne,
    target: "dep_2",
    expected: move("promote", "dep_2", "dep_1")
  },
  {
    name: "accepted while rolled back: a deployment made after the rollback",
    given: [...rolledBackToOne, ...deploymentAt("dep_3", "ready")],
    target: "dep_3",
    expected: move("promote", "dep_3", "dep_1")
  },
  {
    name: "accepted: another environment's hostnames are not part of the plan",
    given: [...twoLive, ...deploymentAt("prev_1", "ready", inPreview)],
    target: "dep_1",
    expected: move("promote", "dep_1", "dep_2")
  }
]

describe("planPromote", () => {
  it.each(promoteCases)("$name", ({ given, target, runningInstances, expected }) => {
    const outcome = outcomeOfSwitch(planPromote(stateOf(given), promote(target), runningInstances ?? 1))
    expect(outcome).toStrictEqual(expected)
  })
})

// ---------------------------------------------------------------------------------------------------
// switchEvents and what they do to the state

describe("switchEvents", () => {
  const cases: ReadonlyArray<{ readonly name: string; readonly plan: SwitchPlan; readonly revision: number; readonly events: ReadonlyArray<ProjectEvent> }> = [
    {
      name: "rollback move -> DomainsSwitched (with the route revision) then LiveSwitched",
      plan: { _tag: "Move", reason: "rollback", targetId: "dep_1", fromLive: "dep_2", domains: productionSticky },
      revision: 42,
      events: [
        { type: "DomainsSwitched", toDeploymentId: "dep_1", domains: productionSticky, reason: "rollback", routeRevision: 42 },
        { type: "LiveSwitched", from: "dep_2", to: "dep_1", reason: "rollback" }
      ]
    },
    {
      name: "promote move -> DomainsSwitched then LiveSwitched, reason promote",
      plan: { _tag: "Move", reason: "promote", targetId: "dep_3", fromLive: "dep_1", domains: [live] },
      revision: 7,
      events: [
        { type: "DomainsSwitched", toDeploymentId: "dep_3", domains: [live], reason: "promote", routeRevision: 7 },
        { type: "LiveSwitched", from: "dep_1", to: "dep_3", reason: "promote" }
      ]
    },
    {
      name: "confirm -> RollbackCleared only (the revision is not used)",
      plan: { _tag: "Confirm", targetId: "dep_1" },
      revision: 0,
      events: [{ type: "RollbackCleared", deploymentId: "dep_1" }]
    }
  ]

  it.each(cases)("$name", ({ plan, revision, events }) => {
    expect(switchEvents(plan, revision)).toStrictEqual(events)
  })
})

/** Plans with runningInstances 1 and folds its events, failing the test on a rejection. */
const carryOut = (state: ProjectState, decision: SwitchDecision, commandId: string): ProjectState => {
  if (Either.isLeft(decision)) throw new Error(`rejected: ${decision.left.message}`)
  return evolveAll(state, switchEvents(decision.right, 1), commandId)
}

/** Deploys through the simulated actor, to ready. */
const deployed = (state: ProjectState, deploymentId: string, git?: GitInfo, environmentId: string = production.id): ProjectState => {
  const command: Deploy = deploy({ deploymentId, environmentId, ...(git === undefined ? {} : { git }) })
  return finish(record(state, command), deploymentId)
}

describe("a carried-out switch, on a state made by the simulated actor", () => {
  const main1: GitInfo = { sha: "1111111aaaa", branch: "main" }
  const main2: GitInfo = { sha: "2222222bbbb", branch: "main" }
  const feature: GitInfo = { sha: "3333333cccc", branch: "feature" }
  // Built in each test (not once per file), so mutation testing sees which tests fold and decide it.
  const started = (): ProjectState =>
    deployed(deployed(deployed(stateOf([projectCreated]), "dep_1", main1), "dep_2", main2), "prev_1", feature, preview.id)

  it("the start: dep_2 live, holding the live, environment and branch hostnames", () => {
    const start = started()
    expect(start.liveDeploymentId).toBe("dep_2")
    expect(start.rolledBack).toBe(false)
    expect(routeMap(start)).toStrictEqual({
      [liveHost]: "dep_2",
      [productionHost]: "dep_2",
      [branchHost("main")]: "dep_2",
      [commitHost(main1.sha)]: "dep_1",
      [commitHost(main2.sha)]: "dep_2",
      [deploymentHost("dep_1")]: "dep_1",
      [deploymentHost("dep_2")]: "dep_2",
      [previewHost]: "prev_1",
      [branchHost("feature")]: "prev_1",
      [commitHost(feature.sha)]: "prev_1",
      [deploymentHost("prev_1")]: "prev_1"
    })
  })

  it("stickyDomainsOf: the environment's live and environment hostnames only, sorted", () => {
    const start = started()
    expect(stickyDomainsOf(start, production.id)).toStrictEqual(productionSticky)
    expect(stickyDomainsOf(start, preview.id)).toStrictEqual([{ hostname: previewHost, sticky: "environment" }])
    expect(stickyDomainsOf(start, "env_unknown")).toStrictEqual([])
  })

  it("rollback dep_2 -> dep_1 moves the live and environment hostnames only, and sets the flag", () => {
    const start = started()
    const after = carryOut(start, planRollback(start, rollback("dep_2", "dep_1"), 1), "cmd_rollback")
    expect(after.liveDeploymentId).toBe("dep_1")
    expect(after.rolledBack).toBe(true)
    expect(routeMap(after)).toStrictEqual({
      ...routeMap(start),
      [liveHost]: "dep_1",
      [productionHost]: "dep_1"
    })
    expect(after.handledCommands).toContain("cmd_rollback")
    // The deployments' statuses and recorded domains do not change.
    expect(after.deployments).toStrictEqual(start.deployments)
  })

  it("promote dep_1 moves them the same way, without the flag", () => {
    const start = started()
    const after = carryOut(start, planPromote(start, promote("dep_1"), 1), "cmd_promote")
    expect(after.liveDeploymentId).toBe("dep_1")
    expect(after.rolledBack).toBe(false)
    expect(routeMap(after)).toStrictEqual({ ...routeMap(start), [liveHost]: "dep_1", [productionHost]: "dep_1" })
  })

  it("confirm: RollbackCleared clears the flag and moves nothing", () => {
    const start = started()
    const rolled = carryOut(start, planRollback(start, rollback("dep_2", "dep_1"), 1), "cmd_rollback")
    const confirmed = carryOut(rolled, planPromote(rolled, promote("dep_1"), 1), "cmd_promote")
    expect(confirmed.liveDeploymentId).toBe("dep_1")
    expect(confirmed.rolledBack).toBe(false)
    expect(confirmed.routes).toStrictEqual(rolled.routes)
  })

  it("the plans are pure: planning does not change the state", () => {
    const start = started()
    const before = JSON.stringify(start)
    planRollback(start, rollback("dep_2", "dep_1"), 1)
    planPromote(start, promote("dep_1"), 1)
    expect(JSON.stringify(start)).toBe(before)
    expect(initialState.routes).toStrictEqual({})
  })
})
