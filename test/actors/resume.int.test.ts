/**
 * Durability: the process stops (every actor and step fiber interrupted, nothing kept in memory) while
 * a deployment is at each of its steps; a new process resumes it from the log and finishes it, with
 * no step's event written twice and Krane's create issued only for the same deploymentId.
 */
import { describe, expect, it } from "vitest"
import { useActorFixture } from "../support/actorFixture.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import { makeFakeKrane, type FakeKrane } from "../support/FakeKrane.js"
import { createProjectCommand, deployCommand, hostOf, startOrchestrator } from "../support/orchestrator.js"
import { readRouteTable, routingThatHangsAfterWriting } from "../support/routing.js"
import { subjects } from "../../src/nats/subjects.js"

const fixture = useActorFixture()

const lifecycleOnce = [
  "DeploymentRequested",
  "DeploymentBuilding",
  "KraneDeploymentCreated",
  "DomainsAssigned",
  "DeploymentReady",
  "LiveSwitched"
] as const

const expectEachStepRecordedOnce = (events: ReadonlyArray<ProjectEvent>) => {
  for (const type of lifecycleOnce) {
    expect(events.filter((event) => event.type === type), `${type} in ${JSON.stringify(events.map((e) => e.type))}`).toHaveLength(1)
  }
  expect(events.filter((event) => event.type === "OpenApiSpecCaptured" || event.type === "OpenApiSpecNotFound")).toHaveLength(1)
  const observed = events.filter((event) => event.type === "InstancesObserved").map((event) => JSON.stringify(event))
  expect(new Set(observed).size, "no identical InstancesObserved twice").toBe(observed.length)
}

interface Scenario {
  readonly step: string
  /** Arranges the first process so that it is caught at the step. */
  readonly arrange: (krane: FakeKrane) => void
  /** True once the first process is at the step. */
  readonly reached: (events: ReadonlyArray<ProjectEvent>, krane: FakeKrane) => boolean | Promise<boolean>
  /** Lets the second process get past the step. */
  readonly release: (krane: FakeKrane) => void
  readonly firstRouting?: boolean
}

let scrapesBefore = 0

const has = (events: ReadonlyArray<ProjectEvent>, type: ProjectEvent["type"]) => events.some((event) => event.type === type)

const scenarios: ReadonlyArray<Scenario> = [
  {
    step: "krane-create (issued, result not recorded)",
    arrange: (krane) => krane.closeGate(),
    reached: (_events, krane) => krane.createCalls.length > 0,
    release: (krane) => krane.openGate()
  },
  {
    step: "await-instances (instances pending)",
    arrange: (krane) => krane.neverReady(),
    reached: (events) => has(events, "InstancesObserved"),
    release: (krane) => krane.setReadyAfterPolls(0)
  },
  {
    // Pending at the first poll: the instances are recorded before the scrape starts.
    step: "scrape-openapi (instances recorded, request in flight)",
    arrange: (krane) => {
      krane.setReadyAfterPolls(1)
      fixture.app.setDelayMs(60_000)
    },
    reached: (events) => has(events, "InstancesObserved") && fixture.app.requests() > 0,
    release: () => fixture.app.setDelayMs(0)
  },
  {
    // The scrape's result and the route write are one decision: the write happened, nothing recorded.
    step: "assign-domains (route table written, event not recorded)",
    arrange: () => undefined,
    reached: async (events) =>
      !has(events, "OpenApiSpecCaptured") && Object.keys(await readRouteTable(fixture.client.nc, `proj_resume_3`)).length > 0,
    release: () => undefined,
    firstRouting: true
  },
  {
    // RUNNING at the first poll: create, wait and scrape are one run whose results are one envelope.
    step: "the scrape of a create + wait + scrape run (nothing recorded since the Deploy)",
    arrange: () => {
      scrapesBefore = fixture.app.requests()
      fixture.app.setDelayMs(60_000)
    },
    reached: (events, krane) => krane.createCalls.length > 0 && fixture.app.requests() > scrapesBefore && !has(events, "KraneDeploymentCreated"),
    release: () => fixture.app.setDelayMs(0)
  }
]

const waitUntil = async (condition: () => Promise<boolean>, what: string, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe("a deployment interrupted by a process stop", () => {
  scenarios.forEach((scenario, index) => {
    it(`resumes and finishes when stopped at ${scenario.step}`, async () => {
      const projectId = `proj_resume_${index}`
      const krane = makeFakeKrane({ gate: true })
      krane.openGate()
      krane.setInstanceAddress(() => fixture.app.address)
      scenario.arrange(krane)
      const first = await startOrchestrator(
        fixture.nats.url,
        krane.layer,
        undefined,
        scenario.firstRouting === true ? routingThatHangsAfterWriting : undefined
      )
      await fixture.client.publish(projectId, createProjectCommand(projectId))
      await fixture.client.publish(projectId, deployCommand(projectId, "dep_1"))
      await waitUntil(async () => scenario.reached(await fixture.client.events(projectId), krane), scenario.step)
      await first.stop()
      const before = await fixture.client.events(projectId)
      expect(has(before, "DeploymentReady")).toBe(false)

      scenario.release(krane)
      const second = await startOrchestrator(fixture.nats.url, krane.layer)
      try {
        const events = await fixture.client.waitForEvent(projectId, (event) => event.type === "LiveSwitched")
        expectEachStepRecordedOnce(events)
        expect(new Set(krane.createCalls.map((call) => call.deploymentId))).toEqual(new Set([`${projectId}--dep_1`]))
        // The readiness deadline recorded before the stop still stands after it.
        const created = events.filter((event) => event.type === "KraneDeploymentCreated")
        expect(created).toHaveLength(1)
      } finally {
        await second.stop()
      }
    })
  })

  it("assigns the domains of a deployment whose log settled its spec without them (an older version's log)", async () => {
    const projectId = "proj_legacy"
    const krane = makeFakeKrane()
    const first = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish(projectId, createProjectCommand(projectId))
      await fixture.client.waitForEvent(projectId, (event) => event.type === "ProjectCreated")
    } finally {
      await first.stop()
    }
    // Before issue 11 the scrape's result was an envelope of its own: a log can end right after it.
    const settled: ReadonlyArray<ReadonlyArray<ProjectEvent>> = [
      [
        {
          type: "DeploymentRequested",
          deploymentId: "dep_1",
          environmentId: "env_prod",
          source: { image: "ghcr.io/acme/legacy:1" },
          replicas: 1,
          port: 8080,
          cpuMillicores: 512,
          memorySizeMib: 512,
          env: {}
        },
        { type: "DeploymentBuilding", deploymentId: "dep_1" }
      ],
      [{ type: "KraneDeploymentCreated", deploymentId: "dep_1", namespace: "acme", kraneDeploymentId: `${projectId}--dep_1`, readyDeadlineAt: Date.now() + 60_000 }],
      [{ type: "InstancesObserved", deploymentId: "dep_1", instances: [{ id: "i-1", address: "127.0.0.1:9", status: "RUNNING" }] }],
      [{ type: "OpenApiSpecNotFound", deploymentId: "dep_1", path: "/openapi.json", reason: "HTTP 404" }]
    ]
    for (const [i, events] of settled.entries()) {
      await fixture.client.js.publish(
        subjects.events(projectId),
        JSON.stringify({ v: 1, projectId, commandId: i === 0 ? "cmd_dep_1" : null, previousVersion: 0, at: Date.now(), events })
      )
    }
    const second = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      // Any message wakes the actor; the route write is due at once.
      await fixture.client.publish(projectId, { type: "CancelDeployment", commandId: "cmd_wake", projectId, deploymentId: "dep_none" })
      const events = await fixture.client.waitForEvent(projectId, (event) => event.type === "LiveSwitched")
      expect(events.filter((event) => event.type === "DomainsAssigned")).toHaveLength(1)
      expect(events.find((event) => event.type === "LiveSwitched")).toEqual({ type: "LiveSwitched", from: null, to: "dep_1", reason: "deploy" })
      expect((await readRouteTable(fixture.client.nc, projectId))[hostOf(projectId)]).toBe("dep_1")
      expect(krane.createCalls).toEqual([])
    } finally {
      await second.stop()
    }
  })

  it("does not apply a redelivered command twice", async () => {
    const krane = makeFakeKrane()
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish("proj_dup", createProjectCommand("proj_dup"))
      await fixture.client.publish("proj_dup", deployCommand("proj_dup", "dep_1"))
      await fixture.client.publish("proj_dup", deployCommand("proj_dup", "dep_1"))
      await fixture.client.publish("proj_dup", { ...deployCommand("proj_dup", "dep_1"), commandId: "cmd_other" })
      const events = await fixture.client.waitForEvent("proj_dup", (event) => event.type === "CommandRejected")
      expect(events.filter((event) => event.type === "DeploymentRequested")).toHaveLength(1)
      expect(events.find((event) => event.type === "CommandRejected")).toMatchObject({
        commandId: "cmd_other",
        code: "deployment_exists",
        message: "deployment already exists: dep_1"
      })
    } finally {
      await orchestrator.stop()
    }
  })
})
