/**
 * CancelDeployment (Unkey spec 5.1: mark cancelled, let compensation clean up) and the compensation of
 * failed and cancelled deployments: the `compensate` step, the Compensated result, stale results.
 */
import { describe, expect, it } from "vitest"
import type { CancelDeployment } from "../../src/domain/commands.js"
import type { EventOf, ProjectEvent, StepName } from "../../src/domain/events.js"
import type { StepResult } from "../../src/domain/stepResults.js"
import { hasWorkInFlight, nextSteps, type Step } from "../../src/domain/steps.js"
import {
  deadline,
  deploy,
  deploymentAt,
  deploymentFailed,
  domainsAssigned,
  finish,
  given,
  handled,
  instance,
  kraneCreated,
  liveSwitched,
  observed,
  projectCreated,
  projectId,
  record,
  routeMap,
  standardDomains,
  stateOf,
  successOf,
  type History,
  type Outcome,
  accepted,
  rejected
} from "./decider.js"

const cancelCommand = (deploymentId = "dep_1", commandId = "cmd_cancel"): CancelDeployment => ({
  type: "CancelDeployment",
  commandId,
  projectId,
  deploymentId
})

const cancelled = (step: StepName, deploymentId = "dep_1", commandId = "cmd_cancel"): EventOf<"DeploymentCancelled"> => ({
  type: "DeploymentCancelled",
  deploymentId,
  step,
  commandId
})

const compensated = (
  deploymentId = "dep_1",
  releasedDomains: ReadonlyArray<string> = [],
  kraneDeleted = true
): EventOf<"DeploymentCompensated"> => ({ type: "DeploymentCompensated", deploymentId, kraneDeleted, releasedDomains })

const at = (...history: History): History => [projectCreated, ...history]

const alreadyMessage = (status: string, deploymentId = "dep_1") =>
  `deployment ${deploymentId} is already ${status}: only a deployment in progress can be cancelled`

// ---------------------------------------------------------------------------------------------------
// CancelDeployment

interface CancelCase {
  readonly name: string
  readonly given: History
  readonly when: CancelDeployment
  readonly expected: Outcome
}

const cancelCases: ReadonlyArray<CancelCase> = [
  // in progress: cancelled at the step it was waiting on
  {
    name: "pending (requested only) -> cancelled at krane-create",
    given: at(...deploymentAt("dep_1", "building").slice(0, 1)),
    when: cancelCommand(),
    expected: accepted(cancelled("krane-create"))
  },
  {
    name: "building -> cancelled at krane-create",
    given: at(...deploymentAt("dep_1", "building")),
    when: cancelCommand(),
    expected: accepted(cancelled("krane-create"))
  },
  {
    name: "deploying, no instances yet -> cancelled at await-instances",
    given: at(...deploymentAt("dep_1", "deploying")),
    when: cancelCommand(),
    expected: accepted(cancelled("await-instances"))
  },
  {
    name: "deploying, 1 of 2 instances running -> cancelled at await-instances",
    given: at(...deploymentAt("dep_1", "deploying", { replicas: 2 }), observed("dep_1", instance(1), instance(2, "PENDING"))),
    when: cancelCommand(),
    expected: accepted(cancelled("await-instances"))
  },
  {
    name: "all instances running, spec not scraped -> cancelled at scrape-openapi",
    given: at(...deploymentAt("dep_1", "running")),
    when: cancelCommand(),
    expected: accepted(cancelled("scrape-openapi"))
  },
  {
    name: "spec captured -> cancelled at assign-domains",
    given: at(...deploymentAt("dep_1", "spec-captured")),
    when: cancelCommand(),
    expected: accepted(cancelled("assign-domains"))
  },
  {
    name: "spec not found -> cancelled at assign-domains",
    given: at(...deploymentAt("dep_1", "spec-not-found")),
    when: cancelCommand(),
    expected: accepted(cancelled("assign-domains"))
  },
  {
    name: "the event carries the command's id",
    given: at(...deploymentAt("dep_1", "building")),
    when: cancelCommand("dep_1", "cmd_other"),
    expected: accepted(cancelled("krane-create", "dep_1", "cmd_other"))
  },
  {
    name: "only the named deployment is cancelled",
    given: at(...deploymentAt("dep_1", "ready"), liveSwitched(null, "dep_1"), ...deploymentAt("dep_2", "deploying"), ...deploymentAt("dep_3", "building")),
    when: cancelCommand("dep_2"),
    expected: accepted(cancelled("await-instances", "dep_2"))
  },
  // finished: rejected
  {
    name: "ready -> rejected",
    given: at(...deploymentAt("dep_1", "ready"), liveSwitched(null, "dep_1")),
    when: cancelCommand(),
    expected: rejected("precondition_failed", alreadyMessage("ready"))
  },
  {
    name: "failed -> rejected",
    given: at(...deploymentAt("dep_1", "failed")),
    when: cancelCommand(),
    expected: rejected("precondition_failed", alreadyMessage("failed"))
  },
  {
    name: "failed and compensated -> rejected",
    given: at(...deploymentAt("dep_1", "failed"), compensated()),
    when: cancelCommand(),
    expected: rejected("precondition_failed", alreadyMessage("failed"))
  },
  {
    name: "cancelled (by another command) -> rejected",
    given: at(...deploymentAt("dep_1", "building"), handled("cmd_first", cancelled("krane-create", "dep_1", "cmd_first"))),
    when: cancelCommand(),
    expected: rejected("precondition_failed", alreadyMessage("cancelled"))
  },
  {
    name: "cancelled and compensated -> rejected",
    given: at(...deploymentAt("dep_1", "building"), handled("cmd_first", cancelled("krane-create", "dep_1", "cmd_first")), compensated()),
    when: cancelCommand(),
    expected: rejected("precondition_failed", alreadyMessage("cancelled"))
  },
  // unknown
  {
    name: "unknown deployment -> rejected",
    given: at(...deploymentAt("dep_1", "building")),
    when: cancelCommand("dep_9"),
    expected: rejected("deployment_not_found", "deployment not found: dep_9")
  },
  {
    name: "no project -> rejected",
    given: [],
    when: cancelCommand(),
    expected: rejected("project_not_found", "project not found: proj_1")
  },
  // idempotency
  {
    name: "the same commandId again (it was applied) -> nothing",
    given: at(...deploymentAt("dep_1", "building"), handled("cmd_cancel", cancelled("krane-create"))),
    when: cancelCommand(),
    expected: accepted()
  },
  {
    name: "the same commandId again after compensation -> nothing",
    given: at(...deploymentAt("dep_1", "deploying"), handled("cmd_cancel", cancelled("await-instances")), compensated()),
    when: cancelCommand(),
    expected: accepted()
  },
  {
    name: "the same commandId again (it was rejected) -> nothing",
    given: at(
      ...deploymentAt("dep_1", "ready"),
      handled("cmd_cancel", {
        type: "CommandRejected",
        commandId: "cmd_cancel",
        commandType: "CancelDeployment",
        code: "precondition_failed",
        message: alreadyMessage("ready")
      })
    ),
    when: cancelCommand(),
    expected: accepted()
  }
]

describe("CancelDeployment", () => {
  it.each(cancelCases)("$name", ({ given: history, when, expected }) => {
    given(history).when(when).thenOutcome(expected)
  })

  it("the cancelled deployment records the step and 'cancelled by user', and the commandId as handled", () => {
    const state = record(stateOf(at(...deploymentAt("dep_1", "deploying"))), cancelCommand())
    expect(state.deployments["dep_1"]).toMatchObject({
      status: "cancelled",
      failure: { step: "await-instances", reason: "cancelled by user" },
      compensated: false
    })
    expect(state.handledCommands).toContain("cmd_cancel")
  })
})

// ---------------------------------------------------------------------------------------------------
// Compensation: the step

const compensate = (deploymentId = "dep_1", namespace = "acme"): Step => ({
  kind: "compensate",
  deploymentId,
  namespace,
  kraneDeploymentId: `proj_1--${deploymentId}`
})

interface StepCase {
  readonly name: string
  readonly given: History
  readonly steps: ReadonlyArray<Step>
  readonly inFlight: boolean
}

const stepCases: ReadonlyArray<StepCase> = [
  {
    name: "cancelled before Krane created it -> compensate in the workspace namespace",
    given: at(...deploymentAt("dep_1", "building"), cancelled("krane-create")),
    steps: [compensate()],
    inFlight: true
  },
  {
    name: "cancelled after Krane created it -> compensate in the recorded namespace",
    given: at(...deploymentAt("dep_1", "building"), kraneCreated("dep_1", deadline, "acme-ns"), cancelled("await-instances")),
    steps: [compensate("dep_1", "acme-ns")],
    inFlight: true
  },
  {
    name: "cancelled at assign-domains -> compensate",
    given: at(...deploymentAt("dep_1", "spec-captured"), cancelled("assign-domains")),
    steps: [compensate()],
    inFlight: true
  },
  {
    name: "failed at krane-create -> compensate",
    given: at(...deploymentAt("dep_1", "failed")),
    steps: [compensate()],
    inFlight: true
  },
  {
    name: "failed at await-instances -> compensate",
    given: at(...deploymentAt("dep_1", "deploying"), deploymentFailed("dep_1", "await-instances", "never ready")),
    steps: [compensate()],
    inFlight: true
  },
  {
    name: "cancelled and compensated -> nothing, no work in flight",
    given: at(...deploymentAt("dep_1", "deploying"), cancelled("await-instances"), compensated()),
    steps: [],
    inFlight: false
  },
  {
    name: "compensated with a problem -> still done",
    given: at(...deploymentAt("dep_1", "deploying"), cancelled("await-instances"), { ...compensated("dep_1", [], false), problem: "krane down" }),
    steps: [],
    inFlight: false
  },
  {
    name: "a ready deployment is never compensated",
    given: at(...deploymentAt("dep_1", "ready"), liveSwitched(null, "dep_1")),
    steps: [],
    inFlight: false
  },
  {
    name: "the other deployments' steps go on",
    given: at(...deploymentAt("dep_1", "deploying"), cancelled("await-instances"), ...deploymentAt("dep_2", "deploying")),
    steps: [compensate(), { kind: "await-instances", deploymentId: "dep_2", namespace: "acme", kraneDeploymentId: "proj_1--dep_2", readyDeadlineAt: deadline }],
    inFlight: true
  }
]

describe("compensation step", () => {
  it.each(stepCases)("$name", ({ given: history, steps, inFlight }) => {
    const state = stateOf(history)
    expect(nextSteps(state)).toStrictEqual(steps)
    expect(hasWorkInFlight(state)).toBe(inFlight)
  })
})

// ---------------------------------------------------------------------------------------------------
// Compensation: the result, and stale results of a cancelled deployment

const compensatedResult = (
  overrides: Partial<Extract<StepResult, { type: "Compensated" }>> = {}
): StepResult => ({ type: "Compensated", deploymentId: "dep_1", kraneDeleted: true, releasedDomains: [], ...overrides })

interface ResultCase {
  readonly name: string
  readonly given: History
  readonly when: StepResult
  readonly then: ReadonlyArray<ProjectEvent>
}

const cancelledAtDeploying = at(...deploymentAt("dep_1", "deploying"), handled("cmd_cancel", cancelled("await-instances")))

const resultCases: ReadonlyArray<ResultCase> = [
  {
    name: "cancelled + Compensated -> DeploymentCompensated",
    given: cancelledAtDeploying,
    when: compensatedResult(),
    then: [compensated()]
  },
  {
    name: "releasedDomains, kraneDeleted and problem are passed through",
    given: cancelledAtDeploying,
    when: compensatedResult({ kraneDeleted: false, releasedDomains: ["a.example", "b.example"], problem: "could not delete: krane down" }),
    then: [{ ...compensated("dep_1", ["a.example", "b.example"], false), problem: "could not delete: krane down" }]
  },
  {
    name: "problem: undefined is left out of the event",
    given: cancelledAtDeploying,
    when: compensatedResult({ problem: undefined }),
    then: [compensated()]
  },
  {
    name: "failed + Compensated -> DeploymentCompensated",
    given: at(...deploymentAt("dep_1", "failed")),
    when: compensatedResult(),
    then: [compensated()]
  },
  {
    name: "a second Compensated -> nothing",
    given: [...cancelledAtDeploying, compensated()],
    when: compensatedResult(),
    then: []
  },
  {
    name: "a second Compensated with other details -> nothing",
    given: [...cancelledAtDeploying, compensated()],
    when: compensatedResult({ kraneDeleted: false, releasedDomains: ["a.example"], problem: "late" }),
    then: []
  },
  {
    name: "Compensated for a deployment in progress -> nothing",
    given: at(...deploymentAt("dep_1", "deploying")),
    when: compensatedResult(),
    then: []
  },
  {
    name: "Compensated for a ready deployment -> nothing",
    given: at(...deploymentAt("dep_1", "ready"), liveSwitched(null, "dep_1")),
    when: compensatedResult(),
    then: []
  },
  {
    name: "Compensated for an unknown deployment -> nothing",
    given: cancelledAtDeploying,
    when: compensatedResult({ deploymentId: "dep_9" }),
    then: []
  }
]

const staleResults: ReadonlyArray<StepResult> = [
  { type: "KraneCreated", deploymentId: "dep_1", namespace: "acme", kraneDeploymentId: "proj_1--dep_1" },
  { type: "InstancesPolled", deploymentId: "dep_1", instances: [instance(1)] },
  { type: "ReadinessTimedOut", deploymentId: "dep_1" },
  { type: "SpecCaptured", deploymentId: "dep_1", path: "/openapi.json", objectName: "proj_1/dep_1", sizeBytes: 1, sha256: "ab".repeat(32) },
  { type: "SpecNotFound", deploymentId: "dep_1", path: "/openapi.json", reason: "HTTP 404" },
  { type: "RoutesWritten", deploymentId: "dep_1", domains: standardDomains("dep_1"), withheld: [], routeRevision: 3 },
  ...(["krane-create", "await-instances", "scrape-openapi", "assign-domains", "compensate"] as const).map(
    (step): StepResult => ({ type: "StepFailed", deploymentId: "dep_1", step, reason: "boom" })
  )
]

const staleCases: ReadonlyArray<ResultCase> = [
  { label: "cancelled at krane-create", history: at(...deploymentAt("dep_1", "building"), cancelled("krane-create")) },
  { label: "cancelled at await-instances", history: cancelledAtDeploying },
  { label: "cancelled at assign-domains", history: at(...deploymentAt("dep_1", "spec-captured"), cancelled("assign-domains")) },
  { label: "cancelled and compensated", history: [...cancelledAtDeploying, compensated()] }
].flatMap(({ label, history }) =>
  staleResults.map(
    (result): ResultCase => ({
      name: `${label} + ${result.type}${result.type === "StepFailed" ? ` (${result.step})` : ""} -> nothing`,
      given: history,
      when: result,
      then: []
    })
  )
)

describe("Compensated and stale results", () => {
  it.each([...resultCases, ...staleCases])("$name", ({ given: history, when, then }) => {
    given(history).when(when).then(then)
  })
})

// ---------------------------------------------------------------------------------------------------
// Folding and the simulated actor

describe("compensation, end to end with the simulated actor", () => {
  it("a deployment cancelled at await-instances is compensated; the live one keeps its hostnames", () => {
    const live = finish(record(stateOf([projectCreated]), deploy({ deploymentId: "dep_1" })), "dep_1")
    let state = record(live, deploy({ deploymentId: "dep_2" }))
    const create = nextSteps(state).find((step) => step.deploymentId === "dep_2")
    expect(create?.kind).toBe("krane-create")
    if (create === undefined) return
    state = record(state, successOf(state, create))
    expect(nextSteps(state).map((step) => step.kind)).toStrictEqual(["await-instances"])

    state = record(state, cancelCommand("dep_2"))
    expect(state.deployments["dep_2"]?.status).toBe("cancelled")
    expect(nextSteps(state)).toStrictEqual([compensate("dep_2")])
    expect(hasWorkInFlight(state)).toBe(true)
    // a late poll of the cancelled deployment changes nothing
    expect(given([], state).when({ type: "InstancesPolled", deploymentId: "dep_2", instances: [instance(1)] }).outcome).toStrictEqual(accepted())

    state = finish(state, "dep_2")
    expect(state.deployments["dep_2"]?.compensated).toBe(true)
    expect(nextSteps(state)).toStrictEqual([])
    expect(hasWorkInFlight(state)).toBe(false)
    expect(state.liveDeploymentId).toBe("dep_1")
    expect(routeMap(state)).toStrictEqual(routeMap(live))
  })

  it("DeploymentCompensated removes exactly the released hostnames from the route table", () => {
    // A hand-made history: a failed deployment holding hostnames (Berth assigns them only on ready).
    const history = at(
      ...deploymentAt("dep_1", "ready"),
      liveSwitched(null, "dep_1"),
      ...deploymentAt("dep_2", "spec-captured"),
      domainsAssigned("dep_2", [{ hostname: "x.berth.localhost", sticky: "deployment" }]),
      deploymentFailed("dep_2", "assign-domains", "boom")
    )
    const before = stateOf(history)
    const after = stateOf([compensated("dep_2", ["x.berth.localhost"])], before)
    expect(routeMap(before)["x.berth.localhost"]).toBe("dep_2")
    const { ["x.berth.localhost"]: _released, ...rest } = routeMap(before)
    expect(routeMap(after)).toStrictEqual(rest)
    expect(after.deployments["dep_2"]?.compensated).toBe(true)
    expect(after.deployments["dep_2"]?.status).toBe("failed")
  })
})
