/**
 * Over-limit commands published raw to NATS (real nats-server, real intake and actor; Krane faked):
 * 50 Deploys with a 200,000-character image and 50 with 20,000 env entries become no deployment, each
 * is rejected (naming the field) or dead-lettered, and the consumer goes on to deploy the next valid
 * command. A command over 256 KiB is refused as oversized; one over the stream's max_msg_size never
 * gets in (its publisher sees the error).
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { describe, expect, it } from "vitest"
import type { ProjectEvent } from "../../src/domain/events.js"
import { limits } from "../../src/domain/limits.js"
import { commandsMaxMsgSize } from "../../src/nats/Nats.js"
import { streams, subjects } from "../../src/nats/subjects.js"
import { useActorFixture } from "../support/actorFixture.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { createProjectCommand, deployCommand, startOrchestrator } from "../support/orchestrator.js"

const fixture = useActorFixture()
const projectId = "proj_flood"

const hugeImage = (i: number) => ({ ...deployCommand(projectId, `dep_image_${i}`), source: { image: "i".repeat(200_000) } })
const hugeEnv = (i: number) => ({
  ...deployCommand(projectId, `dep_env_${i}`),
  env: Object.fromEntries(Array.from({ length: 20_000 }, (_, k) => [`E${k}`, ""]))
})

/** The commandIds found in BERTH_DLQ (the original payloads), by reason. */
const deadLettered = async (): Promise<Map<string, string>> => {
  const jsm = await jetstreamManager(fixture.client.nc)
  const found = new Map<string, string>()
  const last = (await jsm.streams.info(streams.deadLetters)).state.last_seq
  for (let seq = 1; seq <= last; seq++) {
    const message = await jsm.streams.getMessage(streams.deadLetters, { seq }).catch(() => null)
    if (message === null) continue
    try {
      const { commandId } = message.json<{ commandId?: unknown }>()
      if (typeof commandId === "string") found.set(commandId, message.subject)
    } catch {
      // not JSON: not one of ours
    }
  }
  return found
}

describe("over-limit commands published raw to BERTH_COMMANDS", () => {
  it("become no deployment, are each rejected or dead-lettered, and the consumer goes on", async () => {
    const krane = makeFakeKrane()
    krane.setInstanceAddress(() => fixture.app.address)
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      await fixture.client.publish(projectId, createProjectCommand(projectId))
      const bad = [...Array.from({ length: 50 }, (_, i) => hugeImage(i)), ...Array.from({ length: 50 }, (_, i) => hugeEnv(i))]
      for (const command of bad) {
        const raw = JSON.stringify(command)
        expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(limits.commandBytes)
        await fixture.client.publishRaw(subjects.command(projectId), raw)
      }
      // Just over the whole-command limit, yet within the stream's max_msg_size: refused unparsed.
      const oversized = { ...deployCommand(projectId, "dep_oversized"), git: { sha: "abcdef0", message: "m".repeat(limits.commandBytes) } }
      await fixture.client.publishRaw(subjects.command(projectId), JSON.stringify(oversized))
      // Over max_msg_size: the stream refuses it, and the publisher is told.
      const tooLargeToStore = { ...deployCommand(projectId, "dep_never_stored"), git: { sha: "abcdef0", message: "m".repeat(commandsMaxMsgSize) } }
      await expect(fixture.client.publishRaw(subjects.command(projectId), JSON.stringify(tooLargeToStore))).rejects.toThrow(
        /message size exceeds maximum allowed/
      )

      await fixture.client.publish(projectId, deployCommand(projectId, "dep_good"))
      const events = await fixture.client.waitForEvent(
        projectId,
        (event) => event.type === "DeploymentReady" && event.deploymentId === "dep_good",
        60_000
      )

      const requested = events.filter((event) => event.type === "DeploymentRequested").map((event) => event.deploymentId)
      expect(requested).toEqual(["dep_good"])
      expect(krane.createCalls.map((call) => call.deploymentId)).toEqual([`${projectId}--dep_good`])

      const rejections = new Map(
        events
          .filter((event): event is Extract<ProjectEvent, { type: "CommandRejected" }> => event.type === "CommandRejected")
          .map((event) => [event.commandId, `${event.code}: ${event.message}`])
      )
      const letters = await deadLettered()
      const unanswered = bad.map((c) => c.commandId).filter((id) => !rejections.has(id) && !letters.has(id))
      expect(unanswered).toEqual([])
      // What a publisher reads in the rejections: the field and the limit.
      for (const { commandId } of bad.slice(0, 50)) {
        if (rejections.has(commandId)) expect(rejections.get(commandId)).toContain("source.image: at most 512 characters (got 200000)")
      }
      for (const { commandId } of bad.slice(50)) {
        if (rejections.has(commandId)) expect(rejections.get(commandId)).toContain("env: at most 256 entries (got 20000)")
      }
      // The oversized one: dead-lettered as such, and (its header being readable) rejected naming its size.
      expect(rejections.get(oversized.commandId)).toMatch(/^invalid_input: a command is at most 256 KiB \(262144 bytes\) of JSON \(got 26\d{4} bytes\)$/)
      expect(letters.get(oversized.commandId)).toBe(subjects.deadLetter("oversized"))
      expect(rejections.has(tooLargeToStore.commandId)).toBe(false)
    } finally {
      await orchestrator.stop()
    }
  })
})
