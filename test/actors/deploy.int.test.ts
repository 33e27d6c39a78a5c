import { describe, expect, it } from "vitest"
import { buckets } from "../../src/nats/subjects.js"
import { useActorFixture } from "../support/actorFixture.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { createProjectCommand, deployCommand, startOrchestrator } from "../support/orchestrator.js"

const fixture = useActorFixture()

const types = (events: ReadonlyArray<{ type: string }>) => events.map((event) => event.type)

describe("a Deploy published as raw JSON", () => {
  it("travels every step to ready and live, recording each as an event", async () => {
    const krane = makeFakeKrane()
    krane.setInstanceAddress(() => fixture.app.address)
    krane.setReadyAfterPolls(2)
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish("proj_happy", createProjectCommand("proj_happy"))
      await fixture.client.publish("proj_happy", deployCommand("proj_happy", "dep_1", { replicas: 2 }))
      const events = await fixture.client.waitForEvent("proj_happy", (event) => event.type === "LiveSwitched")
      expect(types(events)).toEqual([
        "ProjectCreated",
        "DeploymentRequested",
        "DeploymentBuilding",
        "KraneDeploymentCreated",
        "InstancesObserved",
        "InstancesObserved",
        "OpenApiSpecCaptured",
        "DomainsAssigned",
        "DeploymentReady",
        "LiveSwitched"
      ])
      const assigned = events.find((event) => event.type === "DomainsAssigned")
      expect(assigned).toMatchObject({
        domains: [
          { hostname: "happy-git-a1b2c3d-acme.berth.test", sticky: "none" },
          { hostname: "happy-git-main-acme.berth.test", sticky: "branch" },
          { hostname: "happy-production-acme.berth.test", sticky: "environment" },
          { hostname: "happy-acme.berth.test", sticky: "live" },
          { hostname: "happy-dep-1-acme.berth.test", sticky: "deployment" }
        ]
      })
      expect(events.at(-1)).toEqual({ type: "LiveSwitched", from: null, to: "dep_1", reason: "deploy" })
      expect(krane.createCalls).toMatchObject([{ deploymentId: "proj_happy--dep_1", namespace: "acme", replicas: 2, command: ["node", "server.js"] }])
    } finally {
      await orchestrator.stop()
    }
  })

  it("rejects commands a publisher can learn from, and is not fooled by redelivery", async () => {
    const krane = makeFakeKrane()
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish("proj_rej", deployCommand("proj_rej", "dep_x"))
      await fixture.client.publish("proj_rej", createProjectCommand("proj_rej"))
      await fixture.client.publish("proj_rej", createProjectCommand("proj_rej"))
      await fixture.client.publish("proj_rej", { ...deployCommand("proj_rej", "dep_y"), commandId: "cmd_y", environmentId: "env_nope" })
      await fixture.client.publish("proj_rej", { ...deployCommand("proj_rej", "dep_z"), commandId: "cmd_z", replicas: 0 })
      const events = await fixture.client.waitForEvent("proj_rej", (event) => event.type === "CommandRejected" && event.commandId === "cmd_z")
      const rejections = events.filter((event) => event.type === "CommandRejected")
      expect(rejections).toEqual([
        { type: "CommandRejected", commandId: "cmd_dep_x", commandType: "Deploy", code: "project_not_found", message: "project not found: proj_rej" },
        {
          type: "CommandRejected",
          commandId: "cmd_y",
          commandType: "Deploy",
          code: "environment_not_found",
          message: "environment 'env_nope' not found in workspace 'acme'"
        },
        { type: "CommandRejected", commandId: "cmd_z", commandType: "Deploy", code: "invalid_input", message: "replicas: replicas must be between 1 and 64" }
      ])
      // The second CreateProject has the same commandId: a redelivery, decided once.
      expect(events.filter((event) => event.type === "ProjectCreated")).toHaveLength(1)
    } finally {
      await orchestrator.stop()
    }
  })

  it("keeps a project's in-flight marker set across back-to-back deployments, and clears it once they are done", async () => {
    const krane = makeFakeKrane()
    krane.setInstanceAddress(() => fixture.app.address)
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    // Every write of the project's marker, as it is published (a put "1", or a delete marker).
    const writes: Array<"set" | "clear"> = []
    const subscription = fixture.client.nc.subscribe(`$KV.${buckets.inflight}.proj_marker`, {
      callback: (_error, message) => void writes.push(message.headers?.get("KV-Operation") === "DEL" ? "clear" : "set")
    })
    try {
      await fixture.client.publish("proj_marker", createProjectCommand("proj_marker"))
      for (const deploymentId of ["dep_1", "dep_2", "dep_3"]) {
        await fixture.client.publish("proj_marker", deployCommand("proj_marker", deploymentId))
        await fixture.client.waitForEvent("proj_marker", (event) => event.type === "LiveSwitched" && event.to === deploymentId)
      }
      // Set before the first deployment's steps, kept for the next ones: one write so far.
      expect(writes).toEqual(["set"])
      // Cleared by the sweep after the work is done (every 2 s).
      const deadline = Date.now() + 10_000
      while (writes.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
      expect(writes).toEqual(["set", "clear"])
    } finally {
      subscription.unsubscribe()
      await orchestrator.stop()
    }
  })
})
