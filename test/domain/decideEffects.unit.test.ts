/**
 * The total decider's effects: every message gets a Decision, and the ones that need a route write
 * or hostname claims carry them as data, with what is recorded for each outcome of the effect.
 * (Rollback and Promote's validations: switches.unit.test.ts; the events of plain messages: the
 * other domain tables.)
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { Promote, Rollback } from "../../src/domain/commands.js"
import { decide, inputsFor, type Decision, type Message } from "../../src/domain/decide.js"
import { andThen, record, refuse } from "../../src/domain/decision.js"
import type { DomainAssignment, ProjectEvent } from "../../src/domain/events.js"
import type { ProjectState } from "../../src/domain/state.js"
import {
  context,
  deploy,
  deploymentAt,
  deploymentFailed,
  domainsAssigned,
  deploymentHost,
  commitHost,
  branchHost,
  instance,
  liveHost,
  liveSwitched,
  productionHost,
  projectCreated,
  projectId,
  specNotFound,
  standardDomains,
  deploymentReady,
  stateOf,
  type History
} from "./decider.js"

const rollback = (sourceDeploymentId: string, targetDeploymentId: string): Rollback => ({
  type: "Rollback",
  commandId: "cmd_rollback",
  projectId,
  sourceDeploymentId,
  targetDeploymentId
})
const promote = (deploymentId: string): Promote => ({ type: "Promote", commandId: "cmd_promote", projectId, deploymentId })

const productionSticky: ReadonlyArray<DomainAssignment> = [
  { hostname: liveHost, sticky: "live" },
  { hostname: productionHost, sticky: "environment" }
]

/** dep_1 then dep_2 ready in production, dep_2 live. */
const twoLive: History = [
  projectCreated,
  ...deploymentAt("dep_1", "ready"),
  liveSwitched(null, "dep_1"),
  ...deploymentAt("dep_2", "ready"),
  liveSwitched("dep_1", "dep_2")
]
const rolledBack: History = [
  ...twoLive,
  { type: "DomainsSwitched", toDeploymentId: "dep_1", domains: productionSticky, reason: "rollback", routeRevision: 9 },
  liveSwitched("dep_2", "dep_1", "rollback")
]

/** dep_2 failed after its per-deployment hostname was assigned (a state only an older log holds). */
const heldByFailed: History = [
  projectCreated,
  ...deploymentAt("dep_1", "ready"),
  liveSwitched(null, "dep_1"),
  ...deploymentAt("dep_2", "spec-captured"),
  domainsAssigned("dep_2", [{ hostname: deploymentHost("dep_2"), sticky: "deployment" }]),
  deploymentFailed("dep_2", "go-live", "x")
]

/** The shape of a decision with each effect's outcome applied: what a reader of a table compares. */
type Shape =
  | { readonly record: ReadonlyArray<ProjectEvent>; readonly rejection?: { readonly code: string; readonly message: string } }
  | {
      readonly writeRoutes: Readonly<Record<string, string>>
      readonly upstreams: ReadonlyArray<string>
      readonly written: Shape
      readonly failed: Shape
    }
  | { readonly claim: ReadonlyArray<string>; readonly free: Shape; readonly taken: Shape }

const shapeOf = (decision: Decision): Shape => {
  switch (decision._tag) {
    case "Record":
      return decision.rejection === undefined ? { record: decision.events } : { record: decision.events, rejection: decision.rejection }
    case "WriteRoutes":
      return {
        writeRoutes: Object.fromEntries(Object.entries(decision.table.routes).map(([hostname, route]) => [hostname, route.deploymentId])),
        upstreams: Object.keys(decision.table.upstreams).sort(),
        written: shapeOf(decision.then(Either.right(42))),
        failed: shapeOf(decision.then(Either.left("KV unreachable")))
      }
    case "ClaimHostnames":
      return { claim: decision.hostnames, free: shapeOf(decision.then([])), taken: shapeOf(decision.then(decision.hostnames.slice(0, 1))) }
  }
}

const refused = (commandId: string, commandType: string, code: string, message: string): Shape => ({
  record: [{ type: "CommandRejected", commandId, commandType, code, message }],
  rejection: { code, message }
})

/** twoLive's route table, hostname -> deployment (written out: fixtures stay data, see docs/mutation.md). */
const twoLiveRoutes: Readonly<Record<string, string>> = {
  [liveHost]: "dep_2",
  [productionHost]: "dep_2",
  [deploymentHost("dep_1")]: "dep_1",
  [deploymentHost("dep_2")]: "dep_2"
}
const movedTo = (routes: Readonly<Record<string, string>>, target: string) => ({ ...routes, [liveHost]: target, [productionHost]: target })

interface Case {
  readonly name: string
  readonly given: History
  readonly when: Message
  readonly runningInstances?: number
  readonly then: Shape
}

const cases: ReadonlyArray<Case> = [
  {
    name: "an unreadable command is recorded as rejected with the intake's reason",
    given: [projectCreated],
    when: { type: "InvalidCommand", commandId: "cmd_bad", commandType: "Deploy", code: "invalid_input", message: "replicas: expected <= 64" },
    then: refused("cmd_bad", "Deploy", "invalid_input", "replicas: expected <= 64")
  },
  {
    name: "an unreadable command already answered records nothing",
    given: [projectCreated, { commandId: "cmd_bad", events: [] }],
    when: { type: "InvalidCommand", commandId: "cmd_bad", commandType: "Deploy", code: "invalid_input", message: "x" },
    then: { record: [] }
  },
  {
    name: "a rollback with a running target writes the moved table, then records the switch with its revision",
    given: twoLive,
    when: rollback("dep_2", "dep_1"),
    runningInstances: 1,
    then: {
      writeRoutes: movedTo(twoLiveRoutes, "dep_1"),
      upstreams: ["dep_1", "dep_2"],
      written: {
        record: [
          { type: "DomainsSwitched", toDeploymentId: "dep_1", domains: productionSticky, reason: "rollback", routeRevision: 42 },
          liveSwitched("dep_2", "dep_1", "rollback")
        ]
      },
      failed: refused("cmd_rollback", "Rollback", "routing_failed", "failed to switch domains: KV unreachable")
    }
  },
  {
    name: "a rollback whose target has no running instance is rejected without a write",
    given: twoLive,
    when: rollback("dep_2", "dep_1"),
    runningInstances: 0,
    then: refused("cmd_rollback", "Rollback", "precondition_failed", "no running VMs found for target deployment: dep_1")
  },
  {
    name: "a promote moves the sticky hostnames to the target in one write",
    given: rolledBack,
    when: promote("dep_2"),
    runningInstances: 2,
    then: {
      writeRoutes: movedTo(twoLiveRoutes, "dep_2"),
      upstreams: ["dep_1", "dep_2"],
      written: {
        record: [
          { type: "DomainsSwitched", toDeploymentId: "dep_2", domains: productionSticky, reason: "promote", routeRevision: 42 },
          liveSwitched("dep_1", "dep_2", "promote")
        ]
      },
      failed: refused("cmd_promote", "Promote", "routing_failed", "failed to switch domains: KV unreachable")
    }
  },
  {
    name: "a promote of the deployment a rollback made live clears the flag without a write",
    given: rolledBack,
    when: promote("dep_1"),
    runningInstances: 1,
    then: { record: [{ type: "RollbackCleared", deploymentId: "dep_1" }] }
  },
  {
    name: "a redelivered rollback records nothing",
    given: [...twoLive, { commandId: "cmd_rollback", events: [] }],
    when: rollback("dep_2", "dep_1"),
    runningInstances: 1,
    then: { record: [] }
  },
  {
    name: "a compensation releases the hostnames only the deployment held, then records what it released",
    given: heldByFailed,
    when: { type: "Compensated", deploymentId: "dep_2", kraneDeleted: true, releasedDomains: [] },
    then: (() => {
      const held = [deploymentHost("dep_2")]
      const kept = { [liveHost]: "dep_1", [productionHost]: "dep_1", [deploymentHost("dep_1")]: "dep_1" }
      return {
        writeRoutes: kept,
        upstreams: ["dep_1"],
        written: { record: [{ type: "DeploymentCompensated", deploymentId: "dep_2", kraneDeleted: true, releasedDomains: held }] },
        failed: {
          record: [
            {
              type: "DeploymentCompensated",
              deploymentId: "dep_2",
              kraneDeleted: true,
              releasedDomains: [],
              problem: `could not release ${held.join(", ")}: KV unreachable`
            }
          ]
        }
      }
    })()
  },
  {
    name: "the scrape's result writes the route table it makes due, then records the spec, the domains, ready and live; a failed write fails assign-domains",
    given: [projectCreated, ...deploymentAt("dep_1", "running")],
    when: { type: "SpecNotFound", deploymentId: "dep_1", path: "/openapi.json", reason: "HTTP 404" },
    then: {
      writeRoutes: { [productionHost]: "dep_1", [liveHost]: "dep_1", [deploymentHost("dep_1")]: "dep_1" },
      upstreams: ["dep_1"],
      written: {
        record: [specNotFound("dep_1"), domainsAssigned("dep_1", standardDomains("dep_1"), [], 42), deploymentReady("dep_1"), liveSwitched(null, "dep_1")]
      },
      failed: { record: [specNotFound("dep_1"), deploymentFailed("dep_1", "assign-domains", "failed to assign domains: KV unreachable")] }
    }
  },
  {
    name: "a failed release names every hostname it could not release, sorted",
    given: [
      projectCreated,
      ...deploymentAt("dep_1", "ready"),
      liveSwitched(null, "dep_1"),
      ...deploymentAt("dep_2", "spec-captured"),
      domainsAssigned("dep_2", [
        { hostname: commitHost("abcdef1"), sticky: "none" },
        { hostname: deploymentHost("dep_2"), sticky: "deployment" }
      ]),
      deploymentFailed("dep_2", "go-live", "x")
    ],
    when: { type: "Compensated", deploymentId: "dep_2", kraneDeleted: false, releasedDomains: [] },
    then: {
      writeRoutes: { [liveHost]: "dep_1", [productionHost]: "dep_1", [deploymentHost("dep_1")]: "dep_1" },
      upstreams: ["dep_1"],
      written: {
        record: [{ type: "DeploymentCompensated", deploymentId: "dep_2", kraneDeleted: false, releasedDomains: [deploymentHost("dep_2"), commitHost("abcdef1")] }]
      },
      failed: {
        record: [
          {
            type: "DeploymentCompensated",
            deploymentId: "dep_2",
            kraneDeleted: false,
            releasedDomains: [],
            problem: `could not release ${deploymentHost("dep_2")}, ${commitHost("abcdef1")}: KV unreachable`
          }
        ]
      }
    }
  },
  {
    name: "a compensation report for a deployment that needs none (ready, holding hostnames) decides nothing and writes nothing",
    given: [projectCreated, ...deploymentAt("dep_1", "ready"), liveSwitched(null, "dep_1")],
    when: { type: "Compensated", deploymentId: "dep_1", kraneDeleted: true, releasedDomains: [] },
    then: { record: [] }
  },
  {
    name: "a route write reported again after the domains were assigned (older versions recorded them apart from ready) decides nothing",
    given: [projectCreated, ...deploymentAt("dep_1", "spec-captured"), domainsAssigned("dep_1", standardDomains("dep_1"))],
    when: { type: "RoutesWritten", deploymentId: "dep_1", domains: standardDomains("dep_1"), withheld: [], routeRevision: 3 },
    then: { record: [] }
  },
  {
    name: "a compensation holding no hostname records at once",
    given: [projectCreated, ...deploymentAt("dep_1", "building"), { type: "DeploymentFailed", deploymentId: "dep_1", step: "krane-create", reason: "x" }],
    when: { type: "Compensated", deploymentId: "dep_1", kraneDeleted: true, releasedDomains: [] },
    then: { record: [{ type: "DeploymentCompensated", deploymentId: "dep_1", kraneDeleted: true, releasedDomains: [] }] }
  },
  {
    name: "a deploy claims its hostnames first; one another project holds rejects it, naming only the hostname",
    given: [projectCreated],
    when: deploy({ git: { sha: "abcdef1234", branch: "feature" } }),
    then: {
      claim: [branchHost("feature"), commitHost("abcdef1234"), deploymentHost("dep_1"), liveHost, productionHost].sort(),
      free: {
        record: [
          {
            type: "DeploymentRequested",
            deploymentId: "dep_1",
            environmentId: "env_prod",
            source: { image: "ghcr.io/acme/shop:1" },
            git: { sha: "abcdef1234", branch: "feature" },
            replicas: 1,
            port: 8080,
            cpuMillicores: 512,
            memorySizeMib: 512,
            env: {}
          },
          { type: "DeploymentBuilding", deploymentId: "dep_1" }
        ]
      },
      taken: refused(
        "cmd_dep_1",
        "Deploy",
        "hostname_taken",
        `hostname already taken by another project: ${[branchHost("feature"), commitHost("abcdef1234"), deploymentHost("dep_1"), liveHost, productionHost].sort()[0]}`
      )
    }
  },
  {
    name: "a rejected deploy claims nothing",
    given: [],
    when: deploy(),
    then: refused("cmd_dep_1", "Deploy", "project_not_found", "project not found: proj_1")
  }
]

describe("decide: every message gets a decision, effects as data", () => {
  it.each(cases)("$name", ({ given, when, runningInstances, then }) => {
    const state: ProjectState = stateOf(given)
    const inputs = runningInstances === undefined ? context : { ...context, runningInstances }
    expect(shapeOf(decide(state, when, inputs))).toStrictEqual(then)
  })
})

describe("inputsFor: what must be fetched before deciding", () => {
  const state = () => stateOf(twoLive)
  it.each([
    { name: "a rollback asks for its target's running instances", when: rollback("dep_2", "dep_1") as Message, wants: "dep_1" },
    { name: "a promote asks for its target's running instances", when: promote("dep_1") as Message, wants: "dep_1" },
    { name: "an unknown target needs no input (it is rejected first)", when: rollback("dep_2", "dep_9") as Message, wants: undefined },
    { name: "a deploy needs no input", when: deploy({ deploymentId: "dep_3" }) as Message, wants: undefined },
    { name: "a cancel of a known deployment needs no input", when: { type: "CancelDeployment", commandId: "cmd_c", projectId, deploymentId: "dep_1" } as Message, wants: undefined },
    { name: "a step result needs no input", when: { type: "ReadinessTimedOut", deploymentId: "dep_1" } as Message, wants: undefined }
  ])("$name", ({ when, wants }) => {
    expect(inputsFor(state(), when)?.deploymentId).toBe(wants)
  })

  it("names where Krane knows the target, and what the log recorded if Krane cannot say", () => {
    expect(inputsFor(state(), rollback("dep_2", "dep_1"))).toStrictEqual({
      kind: "running-instances",
      deploymentId: "dep_1",
      namespace: "acme",
      kraneDeploymentId: "proj_1--dep_1",
      recorded: 1
    })
  })

  it("asks Krane in the namespace Krane reported, and counts only the RUNNING instances the log recorded", () => {
    const moved = stateOf([
      projectCreated,
      ...deploymentAt("dep_1", "building"),
      { type: "KraneDeploymentCreated", deploymentId: "dep_1", namespace: "ns-7", kraneDeploymentId: "proj_1--dep_1", readyDeadlineAt: 1 },
      { type: "InstancesObserved", deploymentId: "dep_1", instances: [instance(1), instance(2, "PENDING"), instance(3)] }
    ])
    expect(inputsFor(moved, promote("dep_1"))).toStrictEqual({
      kind: "running-instances",
      deploymentId: "dep_1",
      namespace: "ns-7",
      kraneDeploymentId: "proj_1--dep_1",
      recorded: 2
    })
  })

  it("a target never created in Krane is looked for in the project's namespace, under the id it would get", () => {
    expect(inputsFor(stateOf([projectCreated, ...deploymentAt("dep_1", "building")]), promote("dep_1"))).toStrictEqual({
      kind: "running-instances",
      deploymentId: "dep_1",
      namespace: "acme",
      kraneDeploymentId: "proj_1--dep_1",
      recorded: 0
    })
  })

  it("a switch in a project that does not exist needs no input (it is rejected first)", () => {
    const orphan: ProjectState = { ...stateOf(twoLive), project: null }
    expect(inputsFor(orphan, promote("dep_1"))).toBeUndefined()
    expect(inputsFor(orphan, rollback("dep_2", "dep_1"))).toBeUndefined()
  })

  it("a command already handled needs no input", () => {
    expect(inputsFor(stateOf([...twoLive, { commandId: "cmd_rollback", events: [] }]), rollback("dep_2", "dep_1"))).toBeUndefined()
  })
})

describe("andThen: a decision, then what follows from its events (one run's step results together)", () => {
  const first = deploymentReady("dep_1")
  const second = deploymentReady("dep_2")
  /** What follows: the events it was given, then `second`. */
  const following = (events: ReadonlyArray<ProjectEvent>): Decision => record([...events, second])
  const table = { projectId, routes: {}, upstreams: {} }

  it("recorded events are followed by what follows from them", () => {
    expect(shapeOf(andThen(record([first]), following))).toStrictEqual({ record: [first, second] })
  })

  it("a refusal ends it: nothing follows", () => {
    const refused = refuse("cmd_1", "Deploy", { code: "invalid_input", message: "no" })
    expect(andThen(refused, following)).toBe(refused)
  })

  it("a route write comes first; what is recorded for its outcome is followed by the rest", () => {
    const written: Decision = { _tag: "WriteRoutes", table, then: (outcome) => record(Either.isRight(outcome) ? [first] : []) }
    expect(shapeOf(andThen(written, following))).toStrictEqual({
      writeRoutes: {},
      upstreams: [],
      written: { record: [first, second] },
      failed: { record: [second] }
    })
  })

  it("hostname claims come first with the same hostnames; a taken one refuses, and nothing follows", () => {
    const claims: Decision = {
      _tag: "ClaimHostnames",
      hostnames: ["a.berth.test", "b.berth.test"],
      then: (taken) => (taken.length === 0 ? record([first]) : refuse("cmd_1", "Deploy", { code: "hostname_taken", message: taken.join(", ") }))
    }
    expect(shapeOf(andThen(claims, following))).toStrictEqual({
      claim: ["a.berth.test", "b.berth.test"],
      free: { record: [first, second] },
      taken: refused("cmd_1", "Deploy", "hostname_taken", "a.berth.test")
    })
  })
})
