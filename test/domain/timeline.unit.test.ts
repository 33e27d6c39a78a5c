/**
 * The step timeline's rules (src/domain/timeline.ts): the step a deployment waits on, when instances
 * are ready, how each event moves the timeline, and the order steps are shown in.
 */
import { describe, expect, it } from "vitest"
import type { Instance, ProjectEvent, StepName } from "../../src/domain/events.js"
import { byStepOrder, instancesReady, stepMarks, waitingOn, type Progress, type StepMark } from "../../src/domain/timeline.js"
import { building, deploymentFailed, deploymentReady, domainsAssigned, instance, kraneCreated, liveSwitched, observed, projectCreated, requested, specCaptured, specNotFound } from "./decider.js"

describe("waitingOn", () => {
  const cases: ReadonlyArray<readonly [Progress, StepName | undefined]> = [
    [{ status: "pending", instancesReady: false, specPending: true }, "krane-create"],
    [{ status: "building", instancesReady: false, specPending: true }, "krane-create"],
    [{ status: "deploying", instancesReady: false, specPending: true }, "await-instances"],
    [{ status: "deploying", instancesReady: true, specPending: true }, "scrape-openapi"],
    [{ status: "deploying", instancesReady: true, specPending: false }, "assign-domains"],
    [{ status: "ready", instancesReady: true, specPending: false }, undefined],
    [{ status: "failed", instancesReady: false, specPending: true }, undefined],
    [{ status: "cancelled", instancesReady: true, specPending: true }, undefined]
  ]
  it.each(cases)("%o -> %s", (progress, step) => {
    expect(waitingOn(progress)).toBe(step)
  })
})

describe("instancesReady", () => {
  const cases: ReadonlyArray<readonly [string, number, ReadonlyArray<Instance>, boolean]> = [
    ["no instances for one replica", 1, [], false],
    ["one running for one replica", 1, [instance(1)], true],
    ["one running for two replicas", 2, [instance(1)], false],
    ["two running for two replicas", 2, [instance(1), instance(2)], true],
    ["more running than replicas", 1, [instance(1), instance(2)], true],
    ["one of two pending", 2, [instance(1), instance(2, "PENDING")], false],
    ["terminating", 1, [instance(1, "TERMINATING")], false]
  ]
  it.each(cases)("%s", (_, replicas, instances, ready) => {
    expect(instancesReady(replicas, instances)).toBe(ready)
  })
})

describe("stepMarks", () => {
  const cancel: ProjectEvent = { type: "DeploymentCancelled", deploymentId: "dep_1", step: "await-instances", commandId: "c" }
  const compensated: ProjectEvent = { type: "DeploymentCompensated", deploymentId: "dep_1", kraneDeleted: true, releasedDomains: [], problem: "p" }
  const cases: ReadonlyArray<readonly [string, ProjectEvent, number | undefined, { deploymentId: string; marks: ReadonlyArray<StepMark> } | undefined]> = [
    ["project created: none", projectCreated, undefined, undefined],
    ["requested: none", requested("dep_1"), undefined, undefined],
    ["ready: none", deploymentReady("dep_1"), undefined, undefined],
    ["building", building("dep_1"), undefined, { deploymentId: "dep_1", marks: [{ _tag: "end", step: "build", error: null }, { _tag: "start", step: "krane-create" }] }],
    ["created", kraneCreated("dep_1"), undefined, { deploymentId: "dep_1", marks: [{ _tag: "end", step: "krane-create", error: null }, { _tag: "start", step: "await-instances" }] }],
    ["instances of an unknown deployment: none", observed("dep_1", instance(1)), undefined, undefined],
    ["instances not ready: none", observed("dep_1", instance(1)), 2, undefined],
    ["instances ready", observed("dep_1", instance(1)), 1, { deploymentId: "dep_1", marks: [{ _tag: "endStarted", step: "await-instances" }, { _tag: "start", step: "scrape-openapi" }] }],
    ["captured", specCaptured("dep_1"), undefined, { deploymentId: "dep_1", marks: [{ _tag: "end", step: "scrape-openapi", error: null }, { _tag: "start", step: "assign-domains" }] }],
    ["not found", specNotFound("dep_1"), undefined, { deploymentId: "dep_1", marks: [{ _tag: "end", step: "scrape-openapi", error: null }, { _tag: "start", step: "assign-domains" }] }],
    ["domains assigned: assign-domains ends", domainsAssigned("dep_1", []), undefined, { deploymentId: "dep_1", marks: [{ _tag: "end", step: "assign-domains", error: null }] }],
    ["domains switched (rollback, promote): none", { type: "DomainsSwitched", toDeploymentId: "dep_1", domains: [], reason: "rollback", routeRevision: 2 }, undefined, undefined],
    ["rollback cleared: none", { type: "RollbackCleared", deploymentId: "dep_1" }, undefined, undefined],
    ["a compensation without a problem", { type: "DeploymentCompensated", deploymentId: "dep_1", kraneDeleted: true, releasedDomains: [] }, undefined, { deploymentId: "dep_1", marks: [{ _tag: "end", step: "compensate", error: null }] }],
    ["a rejected command: none", { type: "CommandRejected", commandId: "c", commandType: "Deploy", code: "x", message: "m" }, undefined, undefined],
    ["live: go-live of the target", liveSwitched("dep_1", "dep_2"), undefined, { deploymentId: "dep_2", marks: [{ _tag: "end", step: "go-live", error: null }] }],
    ["failed", deploymentFailed("dep_1", "krane-create", "r"), undefined, { deploymentId: "dep_1", marks: [{ _tag: "end", step: "krane-create", error: "r" }, { _tag: "start", step: "compensate" }] }],
    [
      "cancelled",
      cancel,
      undefined,
      {
        deploymentId: "dep_1",
        marks: [
          { _tag: "endOpen", error: "cancelled by user" },
          { _tag: "record", step: "await-instances", error: "cancelled by user" },
          { _tag: "start", step: "compensate" }
        ]
      }
    ],
    ["compensated", compensated, undefined, { deploymentId: "dep_1", marks: [{ _tag: "end", step: "compensate", error: "p" }] }]
  ]
  it.each(cases)("%s", (_, event, replicas, expected) => {
    expect(stepMarks(event, replicas)).toStrictEqual(expected)
  })
})

describe("byStepOrder", () => {
  it("orders a timeline as a deployment goes through it, compensation last", () => {
    const steps: ReadonlyArray<StepName> = ["compensate", "go-live", "build", "assign-domains", "await-instances", "scrape-openapi", "krane-create"]
    expect(steps.map((step) => ({ step })).sort(byStepOrder).map((s) => s.step)).toStrictEqual([
      "build",
      "krane-create",
      "await-instances",
      "scrape-openapi",
      "assign-domains",
      "go-live",
      "compensate"
    ])
  })
})
