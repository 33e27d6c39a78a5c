/**
 * Step results: (deployment stage, result) -> events. A stale or duplicate result decides nothing.
 */
import { describe, expect, it } from "vitest"
import { decide, type DecideContext } from "../../src/domain/decide.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import type { StepResult } from "../../src/domain/stepResults.js"
import {
  context,
  deploymentAt,
  deploymentFailed,
  deploymentReady,
  domainsAssigned,
  given,
  instance,
  kraneCreated,
  liveSwitched,
  observed,
  preview,
  projectCreated,
  settle,
  standardDomains,
  stateOf,
  type History
} from "./decider.js"

interface Case {
  readonly name: string
  readonly given: History
  readonly when: StepResult
  readonly context?: DecideContext
  readonly then: ReadonlyArray<ProjectEvent>
}

const at = (...history: History): History => [projectCreated, ...history]

const kraneCreatedResult: StepResult = { type: "KraneCreated", deploymentId: "dep_1", namespace: "acme", kraneDeploymentId: "proj_1--dep_1" }
const polled = (...instances: ReturnType<typeof instance>[]): StepResult => ({
  type: "InstancesPolled",
  deploymentId: "dep_1",
  instances
})
const timedOut: StepResult = { type: "ReadinessTimedOut", deploymentId: "dep_1" }
const captured: StepResult = {
  type: "SpecCaptured",
  deploymentId: "dep_1",
  path: "/openapi.json",
  objectName: "proj_1/dep_1",
  sizeBytes: 99,
  sha256: "cd".repeat(32)
}
const notFound: StepResult = { type: "SpecNotFound", deploymentId: "dep_1", path: "/openapi.json", reason: "HTTP 404" }
const routesWritten = (deploymentId: string, environmentId?: string): StepResult => ({
  type: "RoutesWritten",
  deploymentId,
  domains: environmentId === undefined ? standardDomains(deploymentId) : standardDomains(deploymentId, environmentId),
  withheld: [],
  routeRevision: 7
})
const assignedFor = (deploymentId: string, environmentId?: string) =>
  domainsAssigned(
    deploymentId,
    environmentId === undefined ? standardDomains(deploymentId) : standardDomains(deploymentId, environmentId),
    [],
    7
  )
const stepFailed = (step: "krane-create" | "await-instances" | "scrape-openapi" | "assign-domains"): StepResult => ({
  type: "StepFailed",
  deploymentId: "dep_1",
  step,
  reason: "boom"
})

const kraneCreate: ReadonlyArray<Case> = [
  {
    name: "building + KraneCreated -> created, readiness deadline = now + readinessTimeoutMs",
    given: at(...deploymentAt("dep_1", "building")),
    when: kraneCreatedResult,
    context: { ...context, now: 1_000, readinessTimeoutMs: 5_000 },
    then: [{ type: "KraneDeploymentCreated", deploymentId: "dep_1", namespace: "acme", kraneDeploymentId: "proj_1--dep_1", readyDeadlineAt: 6_000 }]
  },
  {
    name: "the namespace is the one Krane reported",
    given: at(...deploymentAt("dep_1", "building")),
    when: { ...kraneCreatedResult, namespace: "ns-7" },
    context: { ...context, now: 0, readinessTimeoutMs: 60_000 },
    then: [{ type: "KraneDeploymentCreated", deploymentId: "dep_1", namespace: "ns-7", kraneDeploymentId: "proj_1--dep_1", readyDeadlineAt: 60_000 }]
  },
  {
    name: "KraneCreated twice -> nothing",
    given: at(...deploymentAt("dep_1", "deploying")),
    when: kraneCreatedResult,
    then: []
  },
  {
    name: "KraneCreated after instances are running -> nothing",
    given: at(...deploymentAt("dep_1", "running")),
    when: kraneCreatedResult,
    then: []
  },
  {
    name: "KraneCreated for an unknown deployment -> nothing",
    given: at(),
    when: kraneCreatedResult,
    then: []
  },
  {
    name: "KraneCreated for a failed deployment -> nothing",
    given: at(...deploymentAt("dep_1", "failed")),
    when: kraneCreatedResult,
    then: []
  }
]

const instances: ReadonlyArray<Case> = [
  {
    name: "deploying + first poll -> observed",
    given: at(...deploymentAt("dep_1", "deploying")),
    when: polled(instance(1, "PENDING")),
    then: [observed("dep_1", instance(1, "PENDING"))]
  },
  {
    name: "deploying + poll with no instances, none recorded -> nothing",
    given: at(...deploymentAt("dep_1", "deploying")),
    when: polled(),
    then: []
  },
  {
    name: "poll identical to the recorded instances -> nothing",
    given: at(...deploymentAt("dep_1", "deploying"), observed("dep_1", instance(1, "PENDING"))),
    when: polled(instance(1, "PENDING")),
    then: []
  },
  {
    name: "an instance changed status -> observed",
    given: at(...deploymentAt("dep_1", "deploying"), observed("dep_1", instance(1, "PENDING"))),
    when: polled(instance(1, "RUNNING")),
    then: [observed("dep_1", instance(1, "RUNNING"))]
  },
  {
    name: "an instance changed address -> observed",
    given: at(...deploymentAt("dep_1", "deploying"), observed("dep_1", instance(1, "PENDING"))),
    when: polled({ ...instance(1, "PENDING"), address: "10.9.9.9:8080" }),
    then: [observed("dep_1", { ...instance(1, "PENDING"), address: "10.9.9.9:8080" })]
  },
  {
    name: "2 replicas, 1 running recorded, second appears -> observed",
    given: at(...deploymentAt("dep_1", "deploying", { replicas: 2 }), observed("dep_1", instance(1))),
    when: polled(instance(1), instance(2)),
    then: [observed("dep_1", instance(1), instance(2))]
  },
  {
    name: "all running already recorded, poll differs -> nothing",
    given: at(...deploymentAt("dep_1", "running")),
    when: polled(instance(1, "TERMINATING")),
    then: []
  },
  {
    name: "poll while still building -> nothing",
    given: at(...deploymentAt("dep_1", "building")),
    when: polled(instance(1)),
    then: []
  },
  {
    name: "poll for a failed deployment -> nothing",
    given: at(...deploymentAt("dep_1", "failed")),
    when: polled(instance(1)),
    then: []
  },
  {
    name: "poll for a ready deployment -> nothing",
    given: at(...deploymentAt("dep_1", "ready")),
    when: polled(instance(1, "TERMINATING")),
    then: []
  }
]

const readiness: ReadonlyArray<Case> = [
  {
    name: "timed out with 1 of 2 running",
    given: at(...deploymentAt("dep_1", "deploying", { replicas: 2 }), observed("dep_1", instance(1), instance(2, "PENDING"))),
    when: timedOut,
    then: [
      deploymentFailed(
        "dep_1",
        "await-instances",
        "deployment never became ready: 1 of 2 instances running after 300s"
      )
    ]
  },
  {
    name: "timed out with nothing observed; seconds are rounded",
    given: at(...deploymentAt("dep_1", "deploying")),
    when: timedOut,
    context: { ...context, now: 0, readinessTimeoutMs: 90_500 },
    then: [
      deploymentFailed("dep_1", "await-instances", "deployment never became ready: 0 of 1 instances running after 91s")
    ]
  },
  {
    name: "enough instances but one not running",
    given: at(...deploymentAt("dep_1", "deploying"), observed("dep_1", instance(1, "TERMINATING"))),
    when: timedOut,
    then: [
      deploymentFailed("dep_1", "await-instances", "deployment never became ready: 0 of 1 instances running after 300s")
    ]
  },
  {
    name: "timed out after all instances ran -> nothing",
    given: at(...deploymentAt("dep_1", "running")),
    when: timedOut,
    then: []
  },
  {
    name: "timed out while building -> nothing",
    given: at(...deploymentAt("dep_1", "building")),
    when: timedOut,
    then: []
  },
  {
    name: "timed out twice -> nothing",
    given: at(
      ...deploymentAt("dep_1", "deploying"),
      deploymentFailed("dep_1", "await-instances", "deployment never became ready: 0 of 1 instances running after 300s")
    ),
    when: timedOut,
    then: []
  }
]

const assignedReadyLive: ReadonlyArray<ProjectEvent> = [
  domainsAssigned("dep_1", standardDomains("dep_1"), [], 3),
  deploymentReady("dep_1"),
  liveSwitched(null, "dep_1")
]

const spec: ReadonlyArray<Case> = [
  {
    // One decision: the route write (revision 3 in these tables) and the domains assigned, ready, live.
    name: "running + SpecCaptured -> captured, domains assigned, ready and live",
    given: at(...deploymentAt("dep_1", "running")),
    when: captured,
    then: [
      {
        type: "OpenApiSpecCaptured",
        deploymentId: "dep_1",
        path: "/openapi.json",
        objectName: "proj_1/dep_1",
        sizeBytes: 99,
        sha256: "cd".repeat(32)
      },
      ...assignedReadyLive
    ]
  },
  {
    name: "running + SpecNotFound -> not found, domains assigned, ready and live",
    given: at(...deploymentAt("dep_1", "running")),
    when: notFound,
    then: [{ type: "OpenApiSpecNotFound", deploymentId: "dep_1", path: "/openapi.json", reason: "HTTP 404" }, ...assignedReadyLive]
  },
  {
    name: "SpecCaptured twice -> nothing",
    given: at(...deploymentAt("dep_1", "spec-captured")),
    when: captured,
    then: []
  },
  {
    name: "SpecNotFound after captured -> nothing",
    given: at(...deploymentAt("dep_1", "spec-captured")),
    when: notFound,
    then: []
  },
  {
    name: "SpecCaptured after not found -> nothing",
    given: at(...deploymentAt("dep_1", "spec-not-found")),
    when: captured,
    then: []
  },
  {
    name: "SpecCaptured before all instances run -> nothing",
    given: at(...deploymentAt("dep_1", "deploying", { replicas: 2 }), observed("dep_1", instance(1))),
    when: captured,
    then: []
  },
  {
    name: "SpecCaptured for a failed deployment -> nothing",
    given: at(...deploymentAt("dep_1", "failed")),
    when: captured,
    then: []
  }
]

const routes: ReadonlyArray<Case> = [
  {
    name: "first production deployment: assigned, ready, live from nothing",
    given: at(...deploymentAt("dep_1", "spec-captured")),
    when: routesWritten("dep_1"),
    then: [assignedFor("dep_1"), deploymentReady("dep_1"), liveSwitched(null, "dep_1")]
  },
  {
    name: "spec not found is no obstacle",
    given: at(...deploymentAt("dep_1", "spec-not-found")),
    when: routesWritten("dep_1"),
    then: [assignedFor("dep_1"), deploymentReady("dep_1"), liveSwitched(null, "dep_1")]
  },
  {
    name: "the result's domains, withheld and revision are recorded as given",
    given: at(...deploymentAt("dep_1", "spec-captured")),
    when: {
      type: "RoutesWritten",
      deploymentId: "dep_1",
      domains: [{ hostname: "shop-dep-1-acme.berth.localhost", sticky: "deployment" }],
      withheld: [{ hostname: "shop-acme.berth.localhost", sticky: "live" }],
      routeRevision: 42
    },
    then: [
      domainsAssigned(
        "dep_1",
        [{ hostname: "shop-dep-1-acme.berth.localhost", sticky: "deployment" }],
        [{ hostname: "shop-acme.berth.localhost", sticky: "live" }],
        42
      ),
      deploymentReady("dep_1"),
      liveSwitched(null, "dep_1")
    ]
  },
  {
    name: "a newer production deployment takes live from the older",
    given: at(
      ...deploymentAt("dep_1", "ready"),
      liveSwitched(null, "dep_1"),
      ...deploymentAt("dep_2", "spec-captured")
    ),
    when: routesWritten("dep_2"),
    then: [assignedFor("dep_2"), deploymentReady("dep_2"), liveSwitched("dep_1", "dep_2")]
  },
  {
    name: "an older production deployment finishing late does not take live back",
    given: at(
      ...deploymentAt("dep_1", "spec-captured"),
      ...deploymentAt("dep_2", "ready"),
      liveSwitched(null, "dep_2")
    ),
    when: routesWritten("dep_1"),
    then: [assignedFor("dep_1"), deploymentReady("dep_1")]
  },
  {
    name: "preview: assigned and ready, live untouched",
    given: at(...deploymentAt("dep_1", "spec-captured", { environmentId: preview.id })),
    when: routesWritten("dep_1", preview.id),
    then: [assignedFor("dep_1", preview.id), deploymentReady("dep_1")]
  },
  {
    name: "preview after production: live stays on production",
    given: at(
      ...deploymentAt("dep_1", "ready"),
      liveSwitched(null, "dep_1"),
      ...deploymentAt("dep_2", "spec-captured", { environmentId: preview.id })
    ),
    when: routesWritten("dep_2", preview.id),
    then: [assignedFor("dep_2", preview.id), deploymentReady("dep_2")]
  },
  {
    name: "rolled back: production deployment becomes ready but live does not move",
    given: at(
      ...deploymentAt("dep_1", "ready"),
      liveSwitched(null, "dep_1"),
      ...deploymentAt("dep_2", "ready"),
      liveSwitched("dep_1", "dep_2"),
      liveSwitched("dep_2", "dep_1", "rollback"),
      ...deploymentAt("dep_3", "spec-captured")
    ),
    when: routesWritten("dep_3"),
    then: [assignedFor("dep_3"), deploymentReady("dep_3")]
  },
  {
    name: "RoutesWritten before the spec outcome -> nothing",
    given: at(...deploymentAt("dep_1", "running")),
    when: routesWritten("dep_1"),
    then: []
  },
  {
    name: "RoutesWritten twice -> nothing",
    given: at(...deploymentAt("dep_1", "ready"), liveSwitched(null, "dep_1")),
    when: routesWritten("dep_1"),
    then: []
  },
  {
    name: "RoutesWritten for a failed deployment -> nothing",
    given: at(...deploymentAt("dep_1", "failed")),
    when: routesWritten("dep_1"),
    then: []
  }
]

const failures: ReadonlyArray<Case> = [
  {
    name: "building + krane-create failed -> failed",
    given: at(...deploymentAt("dep_1", "building")),
    when: stepFailed("krane-create"),
    then: [deploymentFailed("dep_1", "krane-create", "boom")]
  },
  {
    name: "deploying + await-instances failed -> failed",
    given: at(...deploymentAt("dep_1", "deploying")),
    when: stepFailed("await-instances"),
    then: [deploymentFailed("dep_1", "await-instances", "boom")]
  },
  {
    name: "running + scrape-openapi failed -> failed",
    given: at(...deploymentAt("dep_1", "running")),
    when: stepFailed("scrape-openapi"),
    then: [deploymentFailed("dep_1", "scrape-openapi", "boom")]
  },
  {
    name: "spec captured + assign-domains failed -> failed",
    given: at(...deploymentAt("dep_1", "spec-captured")),
    when: stepFailed("assign-domains"),
    then: [deploymentFailed("dep_1", "assign-domains", "boom")]
  },
  {
    name: "failed twice -> nothing",
    given: at(...deploymentAt("dep_1", "failed")),
    when: stepFailed("krane-create"),
    then: []
  },
  {
    name: "a failure reported for a ready deployment -> nothing",
    given: at(...deploymentAt("dep_1", "ready"), liveSwitched(null, "dep_1")),
    when: stepFailed("assign-domains"),
    then: []
  },
  {
    name: "a failure for an unknown deployment -> nothing",
    given: at(),
    when: stepFailed("krane-create"),
    then: []
  },
  // A result that no longer matches the state decides nothing (decide.ts): a failure of a step the
  // deployment has already got past is stale.
  {
    name: "stale: krane-create failed after Krane created it -> nothing",
    given: at(...deploymentAt("dep_1", "deploying")),
    when: stepFailed("krane-create"),
    then: []
  },
  {
    name: "stale: await-instances failed after all instances ran -> nothing",
    given: at(...deploymentAt("dep_1", "spec-captured")),
    when: stepFailed("await-instances"),
    then: []
  }
]

const tables: ReadonlyArray<readonly [string, ReadonlyArray<Case>]> = [
  ["KraneCreated", kraneCreate],
  ["InstancesPolled", instances],
  ["ReadinessTimedOut", readiness],
  ["SpecCaptured / SpecNotFound", spec],
  ["RoutesWritten", routes],
  ["StepFailed", failures]
]

for (const [title, cases] of tables) {
  describe(title, () => {
    it.each(cases)("$name", (c) => {
      given(c.given).when(c.when, c.context).then(c.then)
    })
  })
}

describe("StepResults (one run's results reported together)", () => {
  const running = instance(1)
  it("create, instances running and the scrape: one decision with the route write, every event in order", () => {
    given(at(...deploymentAt("dep_1", "building")))
      .when({ type: "StepResults", results: [kraneCreatedResult, polled(running), notFound] })
      .then([
        kraneCreated("dep_1"),
        observed("dep_1", running),
        { type: "OpenApiSpecNotFound", deploymentId: "dep_1", path: "/openapi.json", reason: "HTTP 404" },
        // The route write's revision: the test's settle() gives the table's number of routes.
        domainsAssigned("dep_1", standardDomains("dep_1"), [], 3),
        deploymentReady("dep_1"),
        liveSwitched(null, "dep_1")
      ])
  })

  it("create and a first poll with instances pending: both recorded, no route write", () => {
    given(at(...deploymentAt("dep_1", "building")))
      .when({ type: "StepResults", results: [kraneCreatedResult, polled(instance(1, "PENDING"))] })
      .then([kraneCreated("dep_1"), observed("dep_1", instance(1, "PENDING"))])
  })

  it("a result already recorded decides nothing and the rest are decided after it", () => {
    given(at(...deploymentAt("dep_1", "deploying")))
      .when({ type: "StepResults", results: [kraneCreatedResult, polled(running)] })
      .then([observed("dep_1", running)])
  })

  it("a cancelled deployment: every result is stale, nothing recorded", () => {
    given(at(...deploymentAt("dep_1", "building"), { type: "DeploymentCancelled", deploymentId: "dep_1", step: "krane-create", commandId: "cmd_cancel" }))
      .when({ type: "StepResults", results: [kraneCreatedResult, polled(running), notFound] })
      .thenNothing()
  })

  it("the route write failing fails assign-domains after the spec outcome, as the scrape's result alone would", () => {
    const history = at(...deploymentAt("dep_1", "building"))
    const results = { type: "StepResults", results: [kraneCreatedResult, polled(running), notFound] } as const
    const fail = settle(decide(stateOf(history), results, context), { routesFail: "kv down" })
    expect(fail.events.at(-1)).toEqual(deploymentFailed("dep_1", "assign-domains", "failed to assign domains: kv down"))
    expect(fail.events.map((event) => event.type)).toEqual([
      "KraneDeploymentCreated",
      "InstancesObserved",
      "OpenApiSpecNotFound",
      "DeploymentFailed"
    ])
  })
})
