/**
 * Poison and redelivery, on a real nats-server per test: the intake survives its consumer being
 * deleted, a project whose log cannot be decoded is quarantined (and recovers by itself), a command
 * that can never be recorded is dead-lettered after its last delivery, and one stuck project does not
 * hold up the others.
 */
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { Context, Duration, Effect, Layer, ManagedRuntime } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { IntakeHealth, type IntakeStatus } from "../../src/actors/IntakeHealth.js"
import { intakeConsumer } from "../../src/actors/CommandIntake.js"
import { OrchestratorWith } from "../../src/actors/Orchestrator.js"
import { openQuarantineBucket, readQuarantine } from "../../src/actors/quarantine.js"
import { HttpOpenApiScraperLive } from "../../src/adapters/openapi/HttpOpenApiScraper.js"
import { KvRoutingServiceLive } from "../../src/adapters/routing/KvRoutingService.js"
import type { OrchestratorSettings } from "../../src/config.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import { EventStore, type EventStoreService } from "../../src/eventstore/EventStore.js"
import { makeEventStore } from "../../src/eventstore/JetStreamEventStore.js"
import { Archive } from "../../src/eventstore/Archive.js"
import { Nats, NatsError } from "../../src/nats/Nats.js"
import { buckets, streams, subjects } from "../../src/nats/subjects.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { connectClient, createProjectCommand, deployCommand, fastSettings, type Client } from "../support/orchestrator.js"
import { startTestNats, type TestNats } from "../support/servers.js"
import { openWithTestKey, testSecrets } from "../support/secrets.js"

interface Orchestrator {
  readonly health: () => Promise<IntakeStatus>
  readonly stop: () => Promise<void>
}

/** The orchestrator over a real event store, optionally wrapped (to fail or hold one project's calls). */
const startWith = async (
  natsUrl: string,
  settings: OrchestratorSettings,
  wrap: (store: EventStoreService) => EventStoreService = (store) => store
): Promise<Orchestrator> => {
  const store = Layer.scopedContext(
    Effect.map(makeEventStore, ({ store, archive }) => Context.make(EventStore, wrap(store)).pipe(Context.add(Archive, archive)))
  )
  const adapters = Layer.mergeAll(
    store,
    KvRoutingServiceLive,
    HttpOpenApiScraperLive({ timeout: settings.scrapeTimeout, maxBytes: settings.scrapeMaxBytes }),
    testSecrets
  )
  const layer = OrchestratorWith(settings, adapters).pipe(Layer.provide(makeFakeKrane().layer), Layer.provideMerge(Nats.layer(natsUrl)))
  const runtime = ManagedRuntime.make(layer)
  await runtime.runtime()
  return {
    health: () => runtime.runPromise(Effect.flatMap(IntakeHealth, (health) => health.status)),
    stop: () => runtime.dispose()
  }
}

const quick: OrchestratorSettings = {
  ...fastSettings,
  intakeBackoff: [Duration.millis(200)],
  quarantineRetry: Duration.millis(300)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const eventually = async <A>(what: string, check: () => Promise<A | undefined>, timeoutMs = 15_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await check()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

const rejectionOf = (events: ReadonlyArray<ProjectEvent>, commandId: string) =>
  events.find((event): event is Extract<ProjectEvent, { type: "CommandRejected" }> => event.type === "CommandRejected" && event.commandId === commandId)

let nats: TestNats
let client: Client
let jsm: JetStreamManager
let orchestrator: Orchestrator | undefined

beforeEach(async () => {
  nats = await startTestNats()
  client = await connectClient(nats.url)
  jsm = await jetstreamManager(client.nc)
})

afterEach(async () => {
  await orchestrator?.stop()
  orchestrator = undefined
  await client.close()
  await nats.stop()
})

describe("the command intake", () => {
  it("re-creates a deleted consumer and decides new commands within 10 s, without replaying old ones", async () => {
    orchestrator = await startWith(nats.url, quick)
    await client.publish("proj_a", createProjectCommand("proj_a"))
    await client.waitForEvent("proj_a", (event) => event.type === "ProjectCreated")

    await jsm.consumers.delete(streams.commands, intakeConsumer)
    const deletedAt = Date.now()
    await client.publish("proj_a", deployCommand("proj_a", "dep_after_delete"))
    await client.waitForEvent("proj_a", (event) => event.type === "DeploymentRequested", 10_000)
    expect(Date.now() - deletedAt).toBeLessThan(10_000)

    const info = await jsm.consumers.info(streams.commands, intakeConsumer)
    expect(info.config.max_deliver).toBe(quick.intakeMaxDeliver)
    // Re-created after the commands already settled: the CreateProject is not delivered again.
    expect(info.delivered.consumer_seq).toBe(1)
    const events = await client.events("proj_a")
    expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(["ProjectCreated", "DeploymentRequested"]))
    expect(events.filter((event) => event.type === "CommandRejected")).toEqual([])
    const health = await orchestrator.health()
    expect(health).toMatchObject({ consuming: true, quarantined: 0 })
    expect(health.lastError).toContain("consumer deleted")
  })

  it("brings an existing consumer's delivery limit up to date at start", async () => {
    orchestrator = await startWith(nats.url, quick)
    await orchestrator.stop()
    orchestrator = await startWith(nats.url, { ...quick, intakeMaxDeliver: 4 })
    const info = await jsm.consumers.info(streams.commands, intakeConsumer)
    expect(info.config.max_deliver).toBe(4)
  })
})

describe("a command that can never be recorded", () => {
  it("is dead-lettered as exhausted after its last delivery, its publisher is told, and the consumer goes on", async () => {
    const failing = (store: EventStoreService): EventStoreService => ({
      ...store,
      append: (projectId, expectedVersion, envelope) =>
        projectId === "proj_poison" && envelope.events.some((event) => event.type === "DeploymentRequested")
          ? Effect.fail(new NatsError({ operation: "append events", cause: new Error("disk on fire") }))
          : store.append(projectId, expectedVersion, envelope)
    })
    orchestrator = await startWith(nats.url, { ...quick, intakeMaxDeliver: 3 }, failing)
    await client.publish("proj_poison", createProjectCommand("proj_poison"))
    const poisonSeq = await client.publish("proj_poison", deployCommand("proj_poison", "dep_poison", { env: { DB_PASSWORD: "poison-secret" } }))
    await client.publish("proj_fine", createProjectCommand("proj_fine"))
    await client.publish("proj_fine", deployCommand("proj_fine", "dep_fine"))

    // Another project is decided while the poison message is being retried.
    await client.waitForEvent("proj_fine", (event) => event.type === "DeploymentRequested")

    const events = await client.waitForEvent("proj_poison", (event) => event.type === "CommandRejected", 30_000)
    expect(rejectionOf(events, "cmd_dep_poison")).toMatchObject({
      commandType: "Deploy",
      code: "delivery_exhausted",
      message: expect.stringContaining("not decided after 3 deliveries; last error: append events: disk on fire")
    })
    const dead = await jsm.streams.getMessage(streams.deadLetters, { last_by_subj: subjects.deadLetter("exhausted") })
    expect(dead?.header.get("Berth-Dlq-Reason")).toBe("exhausted")
    expect(dead?.header.get("Berth-Dlq-Error")).toBe("append events: disk on fire")
    expect(dead?.header.get("Berth-Original-Subject")).toBe(subjects.command("proj_poison"))
    expect(dead?.header.get("Berth-Original-Seq")).toBe(String(poisonSeq))
    expect(dead?.json()).toMatchObject({ commandId: "cmd_dep_poison" })
    // The copy carries the command as decided, env sealed (replayable, never the cleartext)…
    expect(dead?.header.get("Berth-Dlq-Payload")).toBe("sealed")
    expect(dead?.string()).not.toContain("poison-secret")
    const sealed = dead?.json<{ env: { DB_PASSWORD: string } }>().env.DB_PASSWORD ?? ""
    expect(await openWithTestKey("proj_poison", sealed)).toBe("poison-secret")
    // …and the cleartext command is erased from BERTH_COMMANDS once terminated.
    await eventually("the cleartext command erased", async () =>
      (await jsm.streams.getMessage(streams.commands, { seq: poisonSeq }).catch(() => null)) === null ? true : undefined)

    // Terminated, not pending: the consumer holds nothing back and the project's next command is decided.
    await client.publish("proj_poison", { type: "Promote", commandId: "cmd_promote", projectId: "proj_poison", deploymentId: "dep_nope" })
    const after = await client.waitForEvent("proj_poison", (event) => event.type === "CommandRejected" && event.commandId === "cmd_promote")
    expect(rejectionOf(after, "cmd_promote")?.code).toBe("deployment_not_found")
    await eventually("no pending acknowledgements", async () => {
      const info = await jsm.consumers.info(streams.commands, intakeConsumer)
      return info.num_ack_pending === 0 && info.num_redelivered === 0 ? info : undefined
    })
  })
})

describe("a project whose event log cannot be decoded", () => {
  it("is quarantined: its commands are rejected with the reason while others deploy, and it recovers once the log is repaired", async () => {
    orchestrator = await startWith(nats.url, quick)
    await client.publish("proj_bad", createProjectCommand("proj_bad"))
    await client.publish("proj_good", createProjectCommand("proj_good"))
    await client.waitForEvent("proj_bad", (event) => event.type === "ProjectCreated")
    await client.waitForEvent("proj_good", (event) => event.type === "ProjectCreated")

    // An envelope this code cannot read (as if written by a newer version), behind the actor's back.
    const corrupt = await client.js.publish(
      subjects.events("proj_bad"),
      JSON.stringify({ v: 1, projectId: "proj_bad", commandId: null, previousVersion: 1, at: 0, events: [{ type: "DeploymentTeleported" }] })
    )
    await client.publish("proj_bad", {
      type: "Rollback",
      commandId: "cmd_rollback",
      projectId: "proj_bad",
      sourceDeploymentId: "dep_2",
      targetDeploymentId: "dep_1"
    })
    await client.publish("proj_bad", deployCommand("proj_bad", "dep_bad"))
    await client.publish("proj_good", deployCommand("proj_good", "dep_good"))

    await client.waitForEvent("proj_good", (event) => event.type === "DeploymentRequested")
    const events = await client.waitForEvent("proj_bad", (event) => event.type === "CommandRejected" && event.commandId === "cmd_dep_bad")
    for (const commandId of ["cmd_rollback", "cmd_dep_bad"]) {
      const rejection = rejectionOf(events, commandId)
      expect(rejection?.code).toBe("project_unavailable")
      expect(rejection?.message).toContain(`stream sequence ${corrupt.seq}`)
      expect(rejection?.message).toContain("DeploymentTeleported")
    }
    expect(events.some((event) => event.type === "DeploymentRequested")).toBe(false)

    const kv = await Effect.runPromise(openQuarantineBucket({ nc: client.nc, jsm, streams: "ensure" }))
    const quarantined = await Effect.runPromise(readQuarantine(kv))
    expect(quarantined).toMatchObject([{ projectId: "proj_bad", seq: corrupt.seq, reason: expect.stringContaining(`stream sequence ${corrupt.seq}`) }])
    expect((await orchestrator.health()).quarantined).toBe(1)

    // Repaired: the corrupt envelope deleted. The next command after the retry delay loads the project again.
    await jsm.streams.deleteMessage(streams.events, corrupt.seq)
    await sleep(Duration.toMillis(quick.quarantineRetry) + 100)
    await client.publish("proj_bad", deployCommand("proj_bad", "dep_repaired"))
    await client.waitForEvent("proj_bad", (event) => event.type === "DeploymentRequested" && event.deploymentId === "dep_repaired")
    await eventually("the quarantine entry deleted", async () => {
      const left = await Effect.runPromise(readQuarantine(kv))
      return left.length === 0 ? left : undefined
    })
    expect((await orchestrator.health()).quarantined).toBe(0)
    const bucket = await new Kvm(client.nc).open(buckets.quarantine)
    expect(await bucket.get("proj_bad").then((entry) => entry?.operation)).not.toBe("PUT")
  })

  it("is quarantined at load: a fresh process rejects its commands without spawning a crash loop", async () => {
    await client.js.publish(subjects.events("proj_cold"), JSON.stringify({ v: 1, projectId: "proj_cold", events: "many" }))
    let loads = 0
    const counting = (store: EventStoreService): EventStoreService => ({
      ...store,
      load: (projectId) => Effect.suspend(() => {
        if (projectId === "proj_cold") loads++
        return store.load(projectId)
      })
    })
    orchestrator = await startWith(nats.url, { ...quick, quarantineRetry: Duration.minutes(1) }, counting)
    for (const n of [1, 2, 3]) await client.publish("proj_cold", deployCommand("proj_cold", `dep_${n}`))
    const events = await client.waitForEvent("proj_cold", (event) => event.type === "CommandRejected" && event.commandId === "cmd_dep_3")
    expect(events.filter((event) => event.type === "CommandRejected").map((event) => event.type === "CommandRejected" && event.code)).toEqual([
      "project_unavailable",
      "project_unavailable",
      "project_unavailable"
    ])
    expect(rejectionOf(events, "cmd_dep_1")?.message).toContain("stream sequence 1")
    // One load attempt per retry period, not one per command.
    expect(loads).toBe(1)
  })
})

describe("a slow or stuck project", () => {
  it("does not delay another project's commands; its own are redelivered and decided once it moves", async () => {
    let release: () => void = () => undefined
    const released = new Promise<void>((resolve) => (release = resolve))
    const stuck = (store: EventStoreService): EventStoreService => ({
      ...store,
      load: (projectId) =>
        projectId === "proj_stuck" ? Effect.promise(() => released).pipe(Effect.zipRight(store.load(projectId))) : store.load(projectId)
    })
    orchestrator = await startWith(
      nats.url,
      { ...quick, mailboxCapacity: 1, mailboxOfferTimeout: Duration.millis(300), actorLoadTimeout: Duration.minutes(1), intakeMaxDeliver: 100 },
      stuck
    )
    await client.publish("proj_stuck", createProjectCommand("proj_stuck"))
    for (const n of [1, 2, 3, 4, 5, 6]) await client.publish("proj_stuck", deployCommand("proj_stuck", `dep_stuck_${n}`))
    await sleep(200)
    const publishedAt = Date.now()
    await client.publish("proj_free", createProjectCommand("proj_free"))
    await client.publish("proj_free", deployCommand("proj_free", "dep_free"))
    await client.waitForEvent("proj_free", (event) => event.type === "DeploymentRequested", 5_000)
    expect(Date.now() - publishedAt).toBeLessThan(2_000)
    expect(await client.events("proj_stuck")).toEqual([])

    release()
    const events = await client.waitForEvent(
      "proj_stuck",
      (event) => event.type === "DeploymentRequested" && event.deploymentId === "dep_stuck_6",
      20_000
    )
    expect(events.filter((event) => event.type === "DeploymentRequested")).toHaveLength(6)
    expect(events.filter((event) => event.type === "CommandRejected")).toEqual([])
  })

  it("fails an actor whose load misses its deadline; its commands are redelivered and decided once it loads", async () => {
    let slowLoads = 2
    let loads = 0
    const slow = (store: EventStoreService): EventStoreService => ({
      ...store,
      load: (projectId) =>
        Effect.suspend(() => {
          if (projectId !== "proj_slow") return store.load(projectId)
          loads++
          return slowLoads-- > 0 ? Effect.never : store.load(projectId)
        })
    })
    orchestrator = await startWith(nats.url, { ...quick, actorLoadTimeout: Duration.millis(300), intakeBackoff: [Duration.millis(500)] }, slow)
    await client.publish("proj_slow", createProjectCommand("proj_slow"))
    await client.publish("proj_other", createProjectCommand("proj_other"))
    await client.waitForEvent("proj_other", (event) => event.type === "ProjectCreated", 3_000)
    await client.waitForEvent("proj_slow", (event) => event.type === "ProjectCreated", 10_000)
    // Two timed-out starts, then the one that loads: redelivered after a delay each time, not in a loop.
    expect(loads).toBe(3)
  })
})
