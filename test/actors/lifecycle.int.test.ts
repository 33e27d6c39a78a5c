/**
 * Rollback, Promote, Cancel and failure compensation on a real nats-server, through raw JSON
 * commands: what lands in the log, what Krane was asked, and what the route table (KV) says.
 */
import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import { useActorFixture } from "../support/actorFixture.js"
import { KraneUnavailable } from "../../src/adapters/krane/Krane.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import {
  createProjectCommand,
  deployCommand,
  fastSettings,
  hostOf,
  startOrchestrator
} from "../support/orchestrator.js"
import { makeFailingRouting, readRouteTable } from "../support/routing.js"

const fixture = useActorFixture()

const live = (projectId: string) => hostOf(projectId)
const environment = (projectId: string) => hostOf(projectId, "-production")
const ofType = <T extends ProjectEvent["type"]>(events: ReadonlyArray<ProjectEvent>, type: T) =>
  events.filter((event): event is Extract<ProjectEvent, { type: T }> => event.type === type)
const rejectionOf = (events: ReadonlyArray<ProjectEvent>, commandId: string) =>
  ofType(events, "CommandRejected").find((event) => event.commandId === commandId)

const deployAndWait = async (projectId: string, deploymentId: string, sha: string) => {
  await fixture.client.publish(projectId, deployCommand(projectId, deploymentId, { git: { sha, branch: `feature-${deploymentId}` } }))
  return fixture.client.waitForEvent(projectId, (event) => event.type === "DeploymentReady" && event.deploymentId === deploymentId)
}

describe("failure and compensation", () => {
  it("fails a deployment whose Krane create keeps failing, then deletes it from Krane", async () => {
    const krane = makeFakeKrane()
    krane.failCreate("always", new KraneUnavailable({ operation: "CreateDeployment", message: "connection refused" }))
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish("proj_kfail", createProjectCommand("proj_kfail"))
      await fixture.client.publish("proj_kfail", deployCommand("proj_kfail", "dep_1"))
      const events = await fixture.client.waitForEvent("proj_kfail", (event) => event.type === "DeploymentCompensated")
      expect(ofType(events, "DeploymentFailed")).toEqual([
        {
          type: "DeploymentFailed",
          deploymentId: "dep_1",
          step: "krane-create",
          reason: "krane CreateDeployment failed for command node server.js: connection refused"
        }
      ])
      expect(krane.createsFor("proj_kfail--dep_1")).toBe(fastSettings.stepAttempts)
      expect(ofType(events, "DeploymentCompensated")).toEqual([
        { type: "DeploymentCompensated", deploymentId: "dep_1", kraneDeleted: true, releasedDomains: [] }
      ])
      expect(krane.deleteCalls).toEqual([{ namespace: "acme", deploymentId: "proj_kfail--dep_1" }])
    } finally {
      await orchestrator.stop()
    }
  })

  it("fails a deployment that never becomes ready at its deadline, and deletes it", async () => {
    const krane = makeFakeKrane()
    krane.neverReady()
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer, { ...fastSettings, readinessTimeout: Duration.millis(400) })
    try {
      await fixture.client.publish("proj_never", createProjectCommand("proj_never"))
      await fixture.client.publish("proj_never", deployCommand("proj_never", "dep_1"))
      const events = await fixture.client.waitForEvent("proj_never", (event) => event.type === "DeploymentCompensated")
      expect(ofType(events, "DeploymentFailed")).toEqual([
        {
          type: "DeploymentFailed",
          deploymentId: "dep_1",
          step: "await-instances",
          reason: "deployment never became ready: 0 of 1 instances running after 0s"
        }
      ])
      expect(krane.deleteCalls).toEqual([{ namespace: "acme", deploymentId: "proj_never--dep_1" }])
    } finally {
      await orchestrator.stop()
    }
  })

  it("fails a deployment whose route write fails, leaving the route table as it was", async () => {
    const krane = makeFakeKrane()
    krane.setInstanceAddress(() => fixture.app.address)
    const routing = makeFailingRouting()
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer, fastSettings, routing.layer)
    try {
      await fixture.client.publish("proj_rfail", createProjectCommand("proj_rfail"))
      await deployAndWait("proj_rfail", "dep_1", "1111111")
      const before = await readRouteTable(fixture.client.nc, "proj_rfail")
      routing.failWrites(() => true)
      await fixture.client.publish("proj_rfail", deployCommand("proj_rfail", "dep_2", { git: { sha: "2222222" } }))
      const events = await fixture.client.waitForEvent("proj_rfail", (event) => event.type === "DeploymentCompensated")
      expect(ofType(events, "DeploymentFailed")).toEqual([
        { type: "DeploymentFailed", deploymentId: "dep_2", step: "assign-domains", reason: "failed to assign domains: KV unreachable (test)" }
      ])
      expect(await readRouteTable(fixture.client.nc, "proj_rfail")).toEqual(before)
      expect(before[live("proj_rfail")]).toBe("dep_1")
      expect(ofType(events, "LiveSwitched").map((event) => event.to)).toEqual(["dep_1"])
      expect(krane.deleteCalls).toEqual([{ namespace: "acme", deploymentId: "proj_rfail--dep_2" }])
    } finally {
      await orchestrator.stop()
    }
  })
})

describe("cancel", () => {
  const cancel = (projectId: string, deploymentId: string, commandId = `cmd_cancel_${deploymentId}`) =>
    fixture.client.publish(projectId, { type: "CancelDeployment", commandId, projectId, deploymentId })

  it("cancels during krane-create: the create finishes, then the deployment is deleted", async () => {
    const krane = makeFakeKrane({ gate: true })
    krane.closeGate()
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish("proj_c1", createProjectCommand("proj_c1"))
      await fixture.client.publish("proj_c1", deployCommand("proj_c1", "dep_1"))
      await fixture.client.waitForEvent("proj_c1", (event) => event.type === "DeploymentBuilding")
      await cancel("proj_c1", "dep_1")
      await fixture.client.waitForEvent("proj_c1", (event) => event.type === "DeploymentCancelled")
      expect(krane.deleteCalls).toEqual([])
      krane.openGate()
      const events = await fixture.client.waitForEvent("proj_c1", (event) => event.type === "DeploymentCompensated")
      expect(ofType(events, "DeploymentCancelled")).toMatchObject([{ deploymentId: "dep_1", step: "krane-create" }])
      expect(ofType(events, "KraneDeploymentCreated")).toEqual([])
      expect(krane.deleteCalls).toEqual([{ namespace: "acme", deploymentId: "proj_c1--dep_1" }])
    } finally {
      await orchestrator.stop()
    }
  })

  it("cancels while waiting for instances and while scraping, at once", async () => {
    const krane = makeFakeKrane()
    krane.neverReady()
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish("proj_c2", createProjectCommand("proj_c2"))
      await fixture.client.publish("proj_c2", deployCommand("proj_c2", "dep_1"))
      await fixture.client.waitForEvent("proj_c2", (event) => event.type === "InstancesObserved")
      await cancel("proj_c2", "dep_1")
      const events = await fixture.client.waitForEvent("proj_c2", (event) => event.type === "DeploymentCompensated")
      expect(ofType(events, "DeploymentCancelled")).toMatchObject([{ deploymentId: "dep_1", step: "await-instances" }])

      krane.setReadyAfterPolls(0)
      krane.setInstanceAddress(() => fixture.app.address)
      fixture.app.setDelayMs(60_000)
      const scrapes = fixture.app.requests()
      await fixture.client.publish("proj_c2", deployCommand("proj_c2", "dep_2", { git: { sha: "2222222" } }))
      // RUNNING at the first poll: create, wait and scrape are one run, whose results the cancel records first.
      for (const deadline = Date.now() + 10_000; fixture.app.requests() === scrapes; ) {
        if (Date.now() > deadline) throw new Error("the scrape of dep_2 never started")
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      await cancel("proj_c2", "dep_2")
      const after = await fixture.client.waitForEvent(
        "proj_c2",
        (event) => event.type === "DeploymentCompensated" && event.deploymentId === "dep_2",
        5_000
      )
      expect(ofType(after, "DeploymentCancelled")).toMatchObject([{ deploymentId: "dep_1" }, { deploymentId: "dep_2", step: "scrape-openapi" }])
      expect(ofType(after, "DeploymentReady")).toEqual([])
    } finally {
      fixture.app.setDelayMs(0)
      await orchestrator.stop()
    }
  })

  it("rejects cancelling a finished deployment with a clear reason", async () => {
    const krane = makeFakeKrane()
    krane.setInstanceAddress(() => fixture.app.address)
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish("proj_c3", createProjectCommand("proj_c3"))
      await deployAndWait("proj_c3", "dep_1", "1111111")
      await cancel("proj_c3", "dep_1", "cmd_late_cancel")
      const events = await fixture.client.waitForEvent("proj_c3", (event) => event.type === "CommandRejected")
      expect(rejectionOf(events, "cmd_late_cancel")).toMatchObject({
        code: "precondition_failed",
        message: "deployment dep_1 is already ready: only a deployment in progress can be cancelled"
      })
    } finally {
      await orchestrator.stop()
    }
  })
})

describe("rollback and promote", () => {
  it("moves the live and environment hostnames back, keeps them there for new deploys, and promotes forward", async () => {
    const krane = makeFakeKrane({ gate: true })
    krane.openGate()
    krane.setInstanceAddress(() => fixture.app.address)
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    const projectId = "proj_rb"
    try {
      await fixture.client.publish(projectId, createProjectCommand(projectId))
      await deployAndWait(projectId, "dep_1", "1111111")
      await deployAndWait(projectId, "dep_2", "2222222")
      expect(await readRouteTable(fixture.client.nc, projectId)).toMatchObject({ [live(projectId)]: "dep_2", [environment(projectId)]: "dep_2" })

      // A deployment is still building (held in Krane create) when the rollback arrives: decided at once.
      krane.closeGate()
      await fixture.client.publish(projectId, deployCommand(projectId, "dep_3", { git: { sha: "3333333", branch: "feature-dep_3" } }))
      await fixture.client.waitForEvent(projectId, (event) => event.type === "DeploymentBuilding" && event.deploymentId === "dep_3")
      await fixture.client.publish(projectId, {
        type: "Rollback",
        commandId: "cmd_rb",
        projectId,
        sourceDeploymentId: "dep_2",
        targetDeploymentId: "dep_1"
      })
      let events = await fixture.client.waitForEvent(projectId, (event) => event.type === "LiveSwitched" && event.reason === "rollback")
      expect(ofType(events, "KraneDeploymentCreated").map((event) => event.deploymentId)).toEqual(["dep_1", "dep_2"])
      expect(ofType(events, "DomainsSwitched").at(-1)).toMatchObject({
        toDeploymentId: "dep_1",
        reason: "rollback",
        domains: [
          { hostname: live(projectId), sticky: "live" },
          { hostname: environment(projectId), sticky: "environment" }
        ]
      })
      expect(await readRouteTable(fixture.client.nc, projectId)).toMatchObject({ [live(projectId)]: "dep_1", [environment(projectId)]: "dep_1" })

      // The building one becomes ready under the rolled-back flag: its own hostnames only.
      krane.openGate()
      events = await fixture.client.waitForEvent(projectId, (event) => event.type === "DeploymentReady" && event.deploymentId === "dep_3")
      const table = await readRouteTable(fixture.client.nc, projectId)
      expect(table).toMatchObject({
        [live(projectId)]: "dep_1",
        [environment(projectId)]: "dep_1",
        [hostOf(projectId, "-git-feature-dep-3")]: "dep_3",
        [hostOf(projectId, "-git-3333333")]: "dep_3",
        [hostOf(projectId, "-dep-3")]: "dep_3"
      })
      expect(ofType(events, "LiveSwitched").map((event) => [event.to, event.reason])).toEqual([
        ["dep_1", "deploy"],
        ["dep_2", "deploy"],
        ["dep_1", "rollback"]
      ])

      await fixture.client.publish(projectId, { type: "Promote", commandId: "cmd_promote_3", projectId, deploymentId: "dep_3" })
      events = await fixture.client.waitForEvent(projectId, (event) => event.type === "LiveSwitched" && event.reason === "promote")
      expect(await readRouteTable(fixture.client.nc, projectId)).toMatchObject({ [live(projectId)]: "dep_3", [environment(projectId)]: "dep_3" })
      expect(ofType(events, "LiveSwitched").at(-1)).toEqual({ type: "LiveSwitched", from: "dep_1", to: "dep_3", reason: "promote" })

      // Unkey's validations, with its messages.
      await fixture.client.publish(projectId, { type: "Rollback", commandId: "cmd_rb_bad", projectId, sourceDeploymentId: "dep_1", targetDeploymentId: "dep_2" })
      await fixture.client.publish(projectId, { type: "Promote", commandId: "cmd_pr_bad", projectId, deploymentId: "dep_3" })
      events = await fixture.client.waitForEvent(projectId, (event) => event.type === "CommandRejected" && event.commandId === "cmd_pr_bad")
      expect(rejectionOf(events, "cmd_rb_bad")?.message).toBe("source deployment is not the current live deployment")
      expect(rejectionOf(events, "cmd_pr_bad")?.message).toBe("target deployment is already the live deployment")
    } finally {
      await orchestrator.stop()
    }
  })

  it("rejects a rollback whose route write fails, moving nothing", async () => {
    const krane = makeFakeKrane()
    krane.setInstanceAddress(() => fixture.app.address)
    const routing = makeFailingRouting()
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer, fastSettings, routing.layer)
    const projectId = "proj_rbfail"
    try {
      await fixture.client.publish(projectId, createProjectCommand(projectId))
      await deployAndWait(projectId, "dep_1", "1111111")
      await deployAndWait(projectId, "dep_2", "2222222")
      const before = await readRouteTable(fixture.client.nc, projectId)
      routing.failWrites(() => true)
      await fixture.client.publish(projectId, { type: "Rollback", commandId: "cmd_rb", projectId, sourceDeploymentId: "dep_2", targetDeploymentId: "dep_1" })
      const events = await fixture.client.waitForEvent(projectId, (event) => event.type === "CommandRejected")
      expect(rejectionOf(events, "cmd_rb")).toMatchObject({ code: "routing_failed", message: "failed to switch domains: KV unreachable (test)" })
      expect(await readRouteTable(fixture.client.nc, projectId)).toEqual(before)
      expect(ofType(events, "LiveSwitched").map((event) => event.to)).toEqual(["dep_1", "dep_2"])

      // Once routing works again, the same rollback (a new command) goes through.
      routing.failWrites(() => false)
      await fixture.client.publish(projectId, { type: "Rollback", commandId: "cmd_rb_2", projectId, sourceDeploymentId: "dep_2", targetDeploymentId: "dep_1" })
      await fixture.client.waitForEvent(projectId, (event) => event.type === "LiveSwitched" && event.reason === "rollback")
      expect(await readRouteTable(fixture.client.nc, projectId)).toMatchObject({ [live(projectId)]: "dep_1" })
    } finally {
      await orchestrator.stop()
    }
  })
})
