/**
 * Pins of the fold and the decider that mutation testing found loose: events naming a deployment that
 * is not hot (retired, or never requested) change nothing; a failure keeps its step and reason; and an
 * instance replaced under the same address is a change worth recording.
 */
import { describe, expect, it } from "vitest"
import type { Instance, ProjectEvent } from "../../src/domain/events.js"
import { evolve, evolveAll } from "../../src/domain/state.js"
import {
  accepted,
  deploymentAt,
  deploymentFailed,
  domainsAssigned,
  given,
  instance,
  kraneCreated,
  observed,
  projectCreated,
  specCaptured,
  specNotFound,
  standardDomains,
  stateOf
} from "./decider.js"

// Built inside each test (not at module level), so mutation testing can tell which tests cover the fold.
const hotState = () => stateOf([projectCreated, ...deploymentAt("dep_1", "ready")])

describe("late events naming a deployment that is not hot", () => {
  const late: ReadonlyArray<ProjectEvent> = [
    { type: "DeploymentBuilding", deploymentId: "dep_gone" },
    kraneCreated("dep_gone"),
    observed("dep_gone", instance(9)),
    specCaptured("dep_gone"),
    specNotFound("dep_gone"),
    domainsAssigned("dep_gone", standardDomains("dep_gone")),
    { type: "DeploymentReady", deploymentId: "dep_gone" },
    deploymentFailed("dep_gone", "await-instances", "late"),
    { type: "DeploymentCancelled", deploymentId: "dep_gone", step: "await-instances", commandId: "cmd_9" },
    { type: "DeploymentCompensated", deploymentId: "dep_gone", kraneDeleted: true, releasedDomains: [] }
  ]

  it.each(late.map((event) => ({ type: event.type, event })))("$type changes neither deployments nor routes", ({ event }) => {
    const hot = hotState()
    const after = evolve(hot, event)
    expect(after.deployments).toEqual(hot.deployments)
    expect(Object.keys(after.deployments)).toEqual(["dep_1"])
    expect(after.routes).toEqual(hot.routes)
  })

  it("a late DomainsAssigned does not take the hot deployment's hostnames", () => {
    const after = evolve(hotState(), domainsAssigned("dep_gone", standardDomains("dep_1")))
    expect(Object.values(after.routes).map((route) => route.deploymentId)).toEqual(["dep_1", "dep_1", "dep_1"])
  })

  it("step results for it decide nothing", () => {
    for (const result of [
      { type: "KraneCreated", deploymentId: "dep_gone", namespace: "acme", kraneDeploymentId: "k" },
      { type: "InstancesPolled", deploymentId: "dep_gone", instances: [instance(1)] },
      { type: "ReadinessTimedOut", deploymentId: "dep_gone" },
      { type: "StepFailed", deploymentId: "dep_gone", step: "krane-create", reason: "r" },
      { type: "Compensated", deploymentId: "dep_gone", kraneDeleted: true, releasedDomains: [] }
    ] as const) {
      expect(given([], hotState()).when(result).outcome).toStrictEqual(accepted())
    }
  })
})

describe("the scrape's outcome", () => {
  it("is kept as captured or not found (the snapshot holds it)", () => {
    expect(stateOf([projectCreated, ...deploymentAt("dep_1", "spec-captured")]).deployments["dep_1"]?.spec).toBe("captured")
    expect(stateOf([projectCreated, ...deploymentAt("dep_1", "spec-not-found")]).deployments["dep_1"]?.spec).toBe("not_found")
    expect(stateOf([projectCreated, ...deploymentAt("dep_1", "running")]).deployments["dep_1"]?.spec).toBe("pending")
  })
})

describe("a failure's details", () => {
  it("DeploymentFailed records the step and reason it names", () => {
    const state = stateOf([projectCreated, ...deploymentAt("dep_1", "deploying"), deploymentFailed("dep_1", "await-instances", "never became ready")])
    expect(state.deployments["dep_1"]).toMatchObject({ status: "failed", failure: { step: "await-instances", reason: "never became ready" } })
  })

  it("a failure at another step keeps that step", () => {
    const state = stateOf([projectCreated, ...deploymentAt("dep_1", "building"), deploymentFailed("dep_1", "krane-create", "quota exceeded")])
    expect(state.deployments["dep_1"]?.failure).toEqual({ step: "krane-create", reason: "quota exceeded" })
  })

  it("a cancel records the step it stopped at, as cancelled by user", () => {
    const state = stateOf([
      projectCreated,
      ...deploymentAt("dep_1", "deploying"),
      { type: "DeploymentCancelled", deploymentId: "dep_1", step: "await-instances", commandId: "cmd_c" }
    ])
    expect(state.deployments["dep_1"]).toMatchObject({ status: "cancelled", failure: { step: "await-instances", reason: "cancelled by user" } })
  })

  it("a deployment that did not fail has no failure", () => {
    expect(hotState().deployments["dep_1"]?.failure).toBeUndefined()
  })
})

describe("instances observed while deploying", () => {
  const deploying = [projectCreated, ...deploymentAt("dep_1", "deploying", { replicas: 2 }), observed("dep_1", instance(1, "PENDING"))]
  const poll = (...instances: ReadonlyArray<Instance>) =>
    given(deploying).when({ type: "InstancesPolled", deploymentId: "dep_1", instances })

  it("the same instances again -> nothing", () => {
    poll(instance(1, "PENDING")).thenNothing()
  })

  it("an instance replaced under the same address (new id) -> observed", () => {
    const replacement: Instance = { ...instance(1, "PENDING"), id: "i-1-b" }
    poll(replacement).then([observed("dep_1", replacement)])
  })

  it("the same instance at a new address -> observed", () => {
    const moved: Instance = { ...instance(1, "PENDING"), address: "10.0.0.99:8080" }
    poll(moved).then([observed("dep_1", moved)])
  })

  it("the same instance with a new status -> observed", () => {
    poll(instance(1, "TERMINATING")).then([observed("dep_1", instance(1, "TERMINATING"))])
  })

  it("one instance more, or none -> observed", () => {
    poll(instance(1, "PENDING"), instance(2, "PENDING")).then([observed("dep_1", instance(1, "PENDING"), instance(2, "PENDING"))])
    poll().then([observed("dep_1")])
  })

  it("the fold keeps the replacement's id", () => {
    const replacement: Instance = { ...instance(1), id: "i-1-b" }
    const state = evolveAll(stateOf(deploying), [observed("dep_1", replacement)], null)
    expect(state.deployments["dep_1"]?.instances).toEqual([replacement])
  })
})
