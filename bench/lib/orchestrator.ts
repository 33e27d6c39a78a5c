/**
 * The orchestrator under test, in the workload's own process: the real actor system, command intake,
 * event store and KV routing on the bench's nats-server, with the zero-latency FakeKrane (instances
 * RUNNING at the first poll) and an OpenAPI scraper stub that answers "not found" at once (the
 * bench measures Berth, not an HTTP round trip to a fake instance).
 */
import { randomBytes } from "node:crypto"
import { Duration, Effect, Layer, ManagedRuntime } from "effect"
import { ActorSystem } from "../../src/actors/ActorSystem.js"
import { OrchestratorWith } from "../../src/actors/Orchestrator.js"
import { OpenApiScraper } from "../../src/adapters/openapi/OpenApiScraper.js"
import { KvRoutingServiceLive } from "../../src/adapters/routing/KvRoutingService.js"
import type { OrchestratorSettings } from "../../src/config.js"
import { SecretsLive } from "../../src/secrets/Secrets.js"
import { EventStoreLive } from "../../src/eventstore/JetStreamEventStore.js"
import { Nats } from "../../src/nats/Nats.js"
import { makeFakeKrane } from "../../test/support/FakeKrane.js"
import { fastSettings } from "../../test/support/orchestrator.js"

/** fastSettings with a 10 ms poll interval; idleTimeout is read live (see `setIdleTimeout`). */
export const benchSettings = (idleTimeout: Duration.Duration = fastSettings.idleTimeout) => {
  let idle = idleTimeout
  const settings: OrchestratorSettings = {
    ...fastSettings,
    pollInterval: Duration.millis(10),
    get idleTimeout() {
      return idle
    }
  }
  return { settings, setIdleTimeout: (d: Duration.Duration) => void (idle = d) }
}

/** One random secrets key per bench run: Deploy env values are sealed and opened as in production. */
const benchSecrets = SecretsLive.fromKeys(`b1:${randomBytes(32).toString("base64")}`)

const ScraperStub = Layer.succeed(
  OpenApiScraper,
  OpenApiScraper.of({ scrape: () => Effect.succeed({ _tag: "NotFound", reason: "bench: no OpenAPI document" }) })
)

export interface BenchOrchestrator {
  readonly activeActors: () => Promise<number>
  readonly stop: () => Promise<void>
}

export const startBenchOrchestrator = async (natsUrl: string, settings: OrchestratorSettings): Promise<BenchOrchestrator> => {
  const krane = makeFakeKrane()
  const adapters = Layer.mergeAll(EventStoreLive, KvRoutingServiceLive, ScraperStub, benchSecrets)
  const layer = OrchestratorWith(settings, adapters).pipe(Layer.provide(krane.layer), Layer.provideMerge(Nats.layer(natsUrl)))
  const runtime = ManagedRuntime.make(layer)
  await runtime.runtime()
  return {
    activeActors: () => runtime.runPromise(Effect.flatMap(ActorSystem, (system) => system.activeActors)),
    stop: () => runtime.dispose()
  }
}
