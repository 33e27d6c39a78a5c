/**
 * Test helpers around a real orchestrator on a real nats-server: start/stop it (a stop interrupts
 * every actor and step, like a killed process), publish raw commands, read the event log.
 */
import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node"
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream"
import { Duration, Layer, ManagedRuntime, Redacted } from "effect"
import { ActorKey } from "../../src/auth/actor.js"
import type { Krane } from "../../src/adapters/krane/Krane.js"
import { defaultOrchestratorSettings, type OrchestratorSettings } from "../../src/config.js"
import type { EventEnvelope, ProjectEvent } from "../../src/domain/events.js"
import { OrchestratorWith } from "../../src/actors/Orchestrator.js"
import { HttpOpenApiScraperLive } from "../../src/adapters/openapi/HttpOpenApiScraper.js"
import { KvRoutingServiceLive } from "../../src/adapters/routing/KvRoutingService.js"
import type { RoutingService } from "../../src/adapters/routing/RoutingService.js"
import { EventStoreLive } from "../../src/eventstore/JetStreamEventStore.js"
import { ensureStreams, Nats } from "../../src/nats/Nats.js"
import { natsServers } from "../../src/nats/servers.js"
import { streams, subjects } from "../../src/nats/subjects.js"
import { sluggify } from "../../src/domain/domains.js"
import { Effect } from "effect"
import { testActorKey } from "./auth.js"
import { testSecrets } from "./secrets.js"

export const fastSettings: OrchestratorSettings = {
  ...defaultOrchestratorSettings,
  pollInterval: Duration.millis(20),
  stepBackoff: Duration.millis(10),
  scrapeTimeout: Duration.seconds(2),
  // The apex domains the tests use (vitest.config.ts sets the same list for Berth processes).
  apexDomains: ["berth.localhost", "localhost", "berth.test", "example.com"]
}

export interface RunningOrchestrator {
  readonly stop: () => Promise<void>
}

export const startOrchestrator = async (
  natsUrl: string,
  krane: Layer.Layer<Krane>,
  settings: OrchestratorSettings = fastSettings,
  routing: Layer.Layer<RoutingService, unknown, Nats> = KvRoutingServiceLive
): Promise<RunningOrchestrator> => {
  const adapters = Layer.mergeAll(
    EventStoreLive,
    routing,
    HttpOpenApiScraperLive({ timeout: settings.scrapeTimeout, maxBytes: settings.scrapeMaxBytes }),
    testSecrets
  )
  const layer = OrchestratorWith(settings, adapters).pipe(
    Layer.provide(krane),
    // The test APIs' actor key (support/auth.ts): commands they publish are recorded with their token's id.
    Layer.provide(Layer.succeed(ActorKey, Redacted.make(testActorKey))),
    Layer.provideMerge(Nats.layer(natsUrl))
  )
  const runtime = ManagedRuntime.make(layer)
  await runtime.runtime()
  return { stop: () => runtime.dispose() }
}

export interface Client {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly publish: (projectId: string, body: unknown) => Promise<number>
  readonly publishRaw: (subject: string, data: string) => Promise<number>
  readonly envelopes: (projectId: string) => Promise<ReadonlyArray<EventEnvelope & { seq: number }>>
  readonly events: (projectId: string) => Promise<ReadonlyArray<ProjectEvent>>
  readonly waitForEvent: (
    projectId: string,
    predicate: (event: ProjectEvent) => boolean,
    timeoutMs?: number
  ) => Promise<ReadonlyArray<ProjectEvent>>
  readonly close: () => Promise<void>
}

/**
 * A plain NATS client, as another service publishing commands would use. With `auth` (a user of a
 * server with permissions, e.g. `publisher`), it uses the streams as they are instead of ensuring them.
 */
export const connectClient = async (url: string, auth?: Partial<ConnectionOptions>): Promise<Client> => {
  const nc = await connect({ ...auth, servers: natsServers(url) })
  const jsm = await jetstreamManager(nc)
  if (auth === undefined) await Effect.runPromise(ensureStreams(jsm))
  const js = jetstream(nc)
  const publishRaw = async (subject: string, data: string) => (await js.publish(subject, data)).seq
  const envelopes = async (projectId: string) => {
    const found: Array<EventEnvelope & { seq: number }> = []
    let seq = 0
    for (;;) {
      const message = await jsm.direct.getMessage(streams.events, { next_by_subj: subjects.events(projectId), seq: seq + 1 })
      if (message === null) return found
      seq = message.seq
      found.push({ ...(message.json<EventEnvelope>()), seq })
    }
  }
  const events = async (projectId: string) => (await envelopes(projectId)).flatMap((envelope) => envelope.events)
  const waitForEvent = async (projectId: string, predicate: (event: ProjectEvent) => boolean, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const all = await events(projectId)
      if (all.some(predicate)) return all
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for an event; the log holds:\n${all.map((e) => JSON.stringify(e)).join("\n")}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  return {
    nc,
    js,
    publish: (projectId, body) => publishRaw(subjects.command(projectId), JSON.stringify(body)),
    publishRaw,
    envelopes,
    events,
    waitForEvent,
    close: () => nc.close()
  }
}

/**
 * Each test project's slug comes from its id (proj_happy -> happy), so projects sharing a nats-server
 * get their own hostnames: hostnames are claimed, and a second project with the same workspace and
 * slug would be rejected (hostname_taken).
 */
export const projectSlug = (projectId: string): string => sluggify(projectId.replace(/^proj_/, ""))

/** A hostname of a test project: `middle` is "" (live), "-production", "-git-main", "-dep-1", … */
export const hostOf = (projectId: string, middle = ""): string => `${projectSlug(projectId)}${middle}-acme.berth.test`

export const createProjectCommand = (projectId: string, commandId = `cmd_create_${projectId}`) => ({
  type: "CreateProject",
  commandId,
  projectId,
  workspace: "acme",
  slug: projectSlug(projectId),
  apexDomain: "berth.test",
  defaultBranch: "main",
  environments: [
    { id: "env_prod", slug: "production", kind: "production" },
    { id: "env_prev", slug: "preview", kind: "preview" }
  ]
})

export const deployCommand = (projectId: string, deploymentId: string, extra: Record<string, unknown> = {}) => ({
  type: "Deploy",
  commandId: `cmd_${deploymentId}`,
  projectId,
  deploymentId,
  environmentId: "env_prod",
  source: { command: ["node", "server.js"] },
  git: { sha: "a1b2c3d4e5f6", branch: "main", message: "ship it" },
  ...extra
})
