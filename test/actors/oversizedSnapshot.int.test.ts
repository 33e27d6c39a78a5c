/**
 * A project that outgrows its snapshot, on a nats-server with a small max_payload (512 KiB): ten
 * deployments with 64 KB of env each make a hot state larger than one message may be. The snapshot is
 * then skipped with one warning (not failed and retried on every message), a later deployment of the
 * project still finishes, and a cold start loads the project from its log exactly as it was.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Kvm } from "@nats-io/kv"
import { Effect, Layer, Logger, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { OrchestratorWith } from "../../src/actors/Orchestrator.js"
import { HttpOpenApiScraperLive } from "../../src/adapters/openapi/HttpOpenApiScraper.js"
import { KvRoutingServiceLive } from "../../src/adapters/routing/KvRoutingService.js"
import type { OrchestratorSettings } from "../../src/config.js"
import { evolveAll, initialState, type ProjectState } from "../../src/domain/state.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { EventStoreLive } from "../../src/eventstore/JetStreamEventStore.js"
import { Nats } from "../../src/nats/Nats.js"
import { buckets } from "../../src/nats/subjects.js"
import { startAppServer, type AppServer } from "../support/appServer.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { type Client, connectClient, createProjectCommand, deployCommand, fastSettings } from "../support/orchestrator.js"
import { startTestNats, type TestNats } from "../support/servers.js"
import { testSecrets } from "../support/secrets.js"

const maxPayload = 512 * 1024
const projectId = "proj_big"
const bigDeployments = Array.from({ length: 10 }, (_, i) => `dep_big_${i + 1}`)
/** Snapshot every 5 envelopes; keep every deployment hot, so the state only grows. */
const settings: OrchestratorSettings = { ...fastSettings, snapshotEvery: 5, hotDeployments: 50 }

let dir: string
let nats: TestNats
let client: Client
let app: AppServer
const krane = makeFakeKrane()
const warnings: Array<string> = []

/** The orchestrator as startOrchestrator runs it, with its warnings captured. */
const startOrchestrator = async () => {
  const capture = Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Warning") warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  const adapters = Layer.mergeAll(
    EventStoreLive,
    KvRoutingServiceLive,
    HttpOpenApiScraperLive({ timeout: settings.scrapeTimeout, maxBytes: settings.scrapeMaxBytes }),
    testSecrets
  )
  const layer = OrchestratorWith(settings, adapters).pipe(
    Layer.provide(krane.layer),
    Layer.provideMerge(Nats.layer(nats.url)),
    Layer.provide(Logger.add(capture))
  )
  const runtime = ManagedRuntime.make(layer)
  await runtime.runtime()
  return runtime
}

const deploymentReady = (deploymentId: string) =>
  client.waitForEvent(projectId, (event) => event.type === "DeploymentReady" && event.deploymentId === deploymentId, 30_000)

const replayed = async (): Promise<ProjectState> =>
  (await client.envelopes(projectId)).reduce((state, envelope) => evolveAll(state, envelope.events, envelope.commandId), initialState)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-small-payload-"))
  const configPath = join(dir, "nats.conf")
  writeFileSync(configPath, `host: 127.0.0.1\nmax_payload: ${maxPayload}\njetstream {\n}\n`)
  nats = await startTestNats({ configPath })
  client = await connectClient(nats.url)
  app = await startAppServer()
  krane.setInstanceAddress(() => app.address)
})

afterAll(async () => {
  await client?.close()
  await app?.close()
  await nats?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe("a project whose hot state exceeds the server's max_payload", () => {
  it("skips its snapshot with one warning, still finishes a later deployment, and cold-loads from its log", async () => {
    expect(client.nc.info?.max_payload).toBe(maxPayload)
    const first = await startOrchestrator()
    try {
      await client.publish(projectId, createProjectCommand(projectId))
      for (const [i, deploymentId] of bigDeployments.entries()) {
        await client.publish(projectId, deployCommand(projectId, deploymentId, { env: { BLOB: `${i}`.repeat(64_000) } }))
        await deploymentReady(deploymentId)
      }
      await client.publish(projectId, deployCommand(projectId, "dep_later"))
      await deploymentReady("dep_later")
    } finally {
      await first.dispose()
    }

    const state = await replayed()
    expect(JSON.stringify(state).length).toBeGreaterThan(maxPayload)
    expect(Object.values(state.deployments).map((d) => [d.id, d.status])).toEqual(
      [...bigDeployments, "dep_later"].map((id) => [id, "ready"])
    )
    // One warning for the whole run, though a snapshot fell due every 5 envelopes; nothing failed.
    expect(warnings.filter((w) => w.includes("snapshot skipped"))).toHaveLength(1)
    expect(warnings.filter((w) => w.includes("snapshot failed"))).toEqual([])
    // The snapshot stored is one from before the state outgrew max_payload.
    const head = (await client.envelopes(projectId)).at(-1)?.seq ?? 0
    const entry = await (await new Kvm(client.nc).open(buckets.snapshots)).get(projectId)
    const stored = entry?.json<{ version: number }>()
    expect(stored?.version ?? 0).toBeLessThan(head - settings.snapshotEvery)

    // A cold load: the old snapshot plus the log since, equal to the whole log replayed.
    const reader = ManagedRuntime.make(EventStoreLive.pipe(Layer.provideMerge(Nats.layer(nats.url))))
    try {
      const loaded = await reader.runPromise(Effect.flatMap(EventStore, (store) => store.load(projectId)))
      expect(loaded.version).toBe(head)
      expect(loaded.envelopesSinceSnapshot).toBeGreaterThan(settings.snapshotEvery)
      expect(loaded.state.deployments).toEqual(state.deployments)
      expect(loaded.state.liveDeploymentId).toBe("dep_later")
      expect(loaded.state.routes).toEqual(state.routes)
    } finally {
      await reader.dispose()
    }

    // And a new process (cold actor) goes on deploying the project.
    const second = await startOrchestrator()
    try {
      await client.publish(projectId, deployCommand(projectId, "dep_after_restart"))
      await deploymentReady("dep_after_restart")
    } finally {
      await second.dispose()
    }
  })
})
