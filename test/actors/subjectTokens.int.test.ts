/**
 * A command on a subject with extra tokens (`berth.cmd.a.b.proj_x`), on a nats-server without Berth's
 * permissions (which would refuse the publish): the intake dead-letters it as `subject-mismatch` and
 * proj_x never sees it, while a command on `berth.cmd.proj_x` is decided as usual.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { describe, expect, it } from "vitest"
import { streams, subjects } from "../../src/nats/subjects.js"
import { useActorFixture } from "../support/actorFixture.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { createProjectCommand, deployCommand, startOrchestrator } from "../support/orchestrator.js"

const fixture = useActorFixture()

describe("a command subject with extra tokens", () => {
  it("is dead-lettered as subject-mismatch and never reaches the project it names", async () => {
    const krane = makeFakeKrane()
    krane.setInstanceAddress(() => fixture.app.address)
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish("proj_x", createProjectCommand("proj_x"))
      await fixture.client.publishRaw("berth.cmd.a.b.proj_x", JSON.stringify(deployCommand("proj_x", "dep_smuggled")))
      await fixture.client.publish("proj_x", deployCommand("proj_x", "dep_proper"))
      const events = await fixture.client.waitForEvent("proj_x", (event) => event.type === "DeploymentRequested" && event.deploymentId === "dep_proper")

      const jsm = await jetstreamManager(fixture.client.nc)
      // Dead letters are written as the intake settles each message: wait for it.
      const deadline = Date.now() + 10_000
      const lastDeadLetter = () =>
        jsm.streams.getMessage(streams.deadLetters, { last_by_subj: subjects.deadLetter("subject-mismatch") }).catch(() => null)
      let dead = await lastDeadLetter()
      while (dead === null && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        dead = await lastDeadLetter()
      }
      expect({
        original: dead?.header.get("Berth-Original-Subject"),
        error: dead?.header.get("Berth-Dlq-Error"),
        commandId: dead?.json<{ commandId: string }>().commandId
      }).toEqual({
        original: "berth.cmd.a.b.proj_x",
        error: "subject berth.cmd.a.b.proj_x is not berth.cmd.<projectId> (one token after berth.cmd.)",
        commandId: "cmd_dep_smuggled"
      })
      expect(events.filter((event) => "deploymentId" in event && event.deploymentId === "dep_smuggled")).toEqual([])
      expect(krane.createCalls.map((call) => call.deploymentId).filter((id) => id.includes("dep_smuggled"))).toEqual([])
    } finally {
      await orchestrator.stop()
    }
  })
})
