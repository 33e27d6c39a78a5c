/**
 * Retirement on a real nats-server: a project with more finished deployments than the actor keeps hot,
 * snapshotted (so retired to the archive) on the way, then a cold restart from that snapshot. A reused
 * deployment id is still rejected with Unkey's message, a rollback to a retired deployment moves the
 * routes, and the state loaded from the snapshot decides as the whole log does.
 */
import { Kvm } from "@nats-io/kv"
import { Effect, Either, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { StoredRouteTable } from "../../src/adapters/routing/RoutingService.js"
import type { Command } from "../../src/domain/commands.js"
import { decide } from "../../src/domain/decide.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import { deploymentsNamedBy, reinstate, toReinstate, withRetiredRoutes } from "../../src/domain/retirement.js"
import { evolveAll, initialState, type ProjectState } from "../../src/domain/state.js"
import { planPromote, planRollback } from "../../src/domain/switches.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { EventStoreLive } from "../../src/eventstore/JetStreamEventStore.js"
import { Archive } from "../../src/eventstore/Archive.js"
import { Nats } from "../../src/nats/Nats.js"
import { buckets } from "../../src/nats/subjects.js"
import { useActorFixture } from "../support/actorFixture.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { createProjectCommand, deployCommand, fastSettings, startOrchestrator } from "../support/orchestrator.js"
import { readRouteTable } from "../support/routing.js"
import { settle } from "../domain/decider.js"

const fixture = useActorFixture()

const projectId = "proj_retire"
/**
 * Snapshot (and retire) every 2 envelopes; keep the 2 most recent deployments hot. A deployment is 2
 * envelopes (Deploy; then Krane created, instances, scrape and domains from one step run), so the last
 * snapshot (envelope 14 of 15) is taken while dep_7 is in flight.
 */
const settings = { ...fastSettings, snapshotEvery: 2, hotDeployments: 2 }
const deployments = ["dep_1", "dep_2", "dep_3", "dep_4", "dep_5", "dep_6", "dep_7"]
const live = "retire-acme.berth.test"
const environment = "retire-production-acme.berth.test"
const perDeployment = (deploymentId: string) => `retire-${deploymentId.replace("_", "-")}-acme.berth.test`

const krane = makeFakeKrane()

const kvEntry = async <A>(bucket: string, key: string): Promise<A | null> => {
  const kv = await new Kvm(fixture.client.nc).open(bucket)
  const entry = await kv.get(key)
  return entry === null || entry.operation !== "PUT" ? null : entry.json<A>()
}

/** The whole log folded, nothing retired: what the state would be without snapshots. */
const replayed = async (): Promise<ProjectState> =>
  (await fixture.client.envelopes(projectId)).reduce((state, envelope) => evolveAll(state, envelope.events, envelope.commandId), initialState)

const ofType = <T extends ProjectEvent["type"]>(events: ReadonlyArray<ProjectEvent>, type: T) =>
  events.filter((event): event is Extract<ProjectEvent, { type: T }> => event.type === type)

beforeAll(async () => {
  // The first process: the project and its deployments, one after the other.
  const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer, settings)
  try {
    await fixture.client.publish(projectId, createProjectCommand(projectId))
    for (const [i, deploymentId] of deployments.entries()) {
      await fixture.client.publish(projectId, deployCommand(projectId, deploymentId, { git: { sha: `${i + 1}`.repeat(7), branch: `feature-${i + 1}` } }))
      await fixture.client.waitForEvent(projectId, (event) => event.type === "LiveSwitched" && event.to === deploymentId)
    }
  } finally {
    await orchestrator.stop()
  }
})

describe("a project whose finished deployments were retired", () => {
  it("snapshots only the hot deployments and archives the others", async () => {
    const snapshot = await kvEntry<{ format: number; state: ProjectState }>(buckets.snapshots, projectId)
    expect(snapshot?.format).toBe(2)
    const hot = Object.keys(snapshot?.state.deployments ?? {})
    expect(hot).not.toContain("dep_1")
    expect(hot).not.toContain("dep_2")
    expect(hot).toContain("dep_7")
    const archived = await kvEntry<{ deployment: { id: string; status: string } }>(buckets.archive, `${projectId}.dep_2`)
    expect(archived?.deployment).toMatchObject({ id: "dep_2", status: "ready" })
    // Every hostname any deployment ever got is still routed: the retired ones' too.
    const table = await readRouteTable(fixture.client.nc, projectId)
    expect(table).toEqual(Object.fromEntries(Object.entries((await replayed()).routes).map(([h, r]) => [h, r.deploymentId])))
    expect(table[perDeployment("dep_1")]).toBe("dep_1")
  })

  describe("after a cold restart from the snapshot", () => {
    let orchestrator: Awaited<ReturnType<typeof startOrchestrator>>
    beforeAll(async () => {
      orchestrator = await startOrchestrator(fixture.nats.url, krane.layer, settings)
    })
    afterAll(async () => {
      await orchestrator?.stop()
    })

    it("rejects a Deploy reusing a retired id with the same message as before", async () => {
      await fixture.client.publish(projectId, { ...deployCommand(projectId, "dep_1"), commandId: "cmd_reuse" })
      const events = await fixture.client.waitForEvent(projectId, (event) => event.type === "CommandRejected" && event.commandId === "cmd_reuse")
      expect(ofType(events, "CommandRejected").find((event) => event.commandId === "cmd_reuse")).toEqual({
        type: "CommandRejected",
        commandId: "cmd_reuse",
        commandType: "Deploy",
        code: "deployment_exists",
        message: "deployment already exists: dep_1"
      })
    })

    it("rolls back to a retired ready deployment: the live and environment hostnames move to it", async () => {
      await fixture.client.publish(projectId, {
        type: "Rollback",
        commandId: "cmd_rollback",
        projectId,
        sourceDeploymentId: "dep_7",
        targetDeploymentId: "dep_2"
      })
      const events = await fixture.client.waitForEvent(projectId, (event) => event.type === "LiveSwitched" && event.reason === "rollback")
      expect(ofType(events, "LiveSwitched").at(-1)).toEqual({ type: "LiveSwitched", from: "dep_7", to: "dep_2", reason: "rollback" })
      const table = await readRouteTable(fixture.client.nc, projectId)
      expect([table[live], table[environment]]).toEqual(["dep_2", "dep_2"])
      // The rest of the table is untouched: retired deployments keep their own hostnames.
      expect(table[perDeployment("dep_1")]).toBe("dep_1")
      expect(table).toEqual(Object.fromEntries(Object.entries((await replayed()).routes).map(([h, r]) => [h, r.deploymentId])))
      const stored = await kvEntry<StoredRouteTable>(buckets.routes, projectId)
      expect(stored?.upstreams["dep_2"]).toEqual(krane.instancesFor(`${projectId}--dep_2`).map((instance) => instance.address))
    })

    it("loads a state (snapshot + archive) that decides as the whole log does", async () => {
      const runtime = ManagedRuntime.make(EventStoreLive.pipe(Layer.provide(Nats.layer(fixture.nats.url))))
      try {
        const full = await replayed()
        const commands: ReadonlyArray<Command> = [
          { ...deployCommand(projectId, "dep_3"), commandId: "cmd_c1" } as Command,
          { ...deployCommand(projectId, "dep_new"), commandId: "cmd_c2" } as Command,
          { type: "Rollback", commandId: "cmd_c3", projectId, sourceDeploymentId: "dep_2", targetDeploymentId: "dep_4" },
          { type: "Rollback", commandId: "cmd_c4", projectId, sourceDeploymentId: "dep_5", targetDeploymentId: "dep_1" },
          { type: "Promote", commandId: "cmd_c5", projectId, deploymentId: "dep_7" },
          { type: "Promote", commandId: "cmd_c6", projectId, deploymentId: "dep_2" },
          { type: "CancelDeployment", commandId: "cmd_c7", projectId, deploymentId: "dep_1" }
        ]
        const result = await runtime.runPromise(
          Effect.gen(function* () {
            const store = yield* EventStore
            const archive = yield* Archive
            const loaded = yield* store.load(projectId)
            const retiredRoutes = yield* archive.retiredRoutes(projectId, loaded.state)
            const decisions = []
            for (const command of commands) {
              const named = toReinstate(loaded.state, deploymentsNamedBy(command))
              const state = reinstate(loaded.state, yield* archive.archived(projectId, named))
              decisions.push({ command: command.commandId, onSnapshot: decisionOf(state, command), onLog: decisionOf(full, command) })
            }
            const routes = withRetiredRoutes({ projectId, routes: loaded.state.routes, upstreams: {} }, retiredRoutes).routes
            return { loaded, decisions, routes }
          })
        )
        // The snapshot was used, holds no dep_1, and the loader put back dep_2 (live since the rollback).
        expect(result.loaded.envelopesSinceSnapshot).toBeLessThan(settings.snapshotEvery + 2)
        expect(result.loaded.state.deployments["dep_1"]).toBeUndefined()
        expect(result.loaded.state.liveDeploymentId).toBe("dep_2")
        expect(result.loaded.state.deployments["dep_2"]).toEqual(full.deployments["dep_2"])
        for (const decision of result.decisions) expect(decision.onSnapshot, decision.command).toEqual(decision.onLog)
        expect(result.routes).toEqual(full.routes)
      } finally {
        await runtime.dispose()
      }
    })
  })
})

const decisionOf = (state: ProjectState, command: Command) => {
  if (command.type === "Rollback" || command.type === "Promote") {
    const plan = command.type === "Rollback" ? planRollback(state, command, 1) : planPromote(state, command, 1)
    return Either.isLeft(plan) ? { rejected: plan.left.message } : { accepted: plan.right }
  }
  const decision = settle(decide(state, command, { now: 0, readinessTimeoutMs: 1000, apexDomains: ["berth.localhost", "berth.test"] }))
  return decision.rejection !== undefined ? { rejected: decision.rejection.message } : { accepted: decision.events }
}
