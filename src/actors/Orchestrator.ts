/**
 * The orchestrator as one Layer: command intake -> actor system -> event store, with the step
 * adapters (routing, OpenAPI scraping, secrets). Needs a NATS connection and a Krane. It provides the
 * intake's health (IntakeHealth) for readiness checks, besides the actor system and the adapters.
 */
import { Layer } from "effect"
import type { OrchestratorSettings } from "../config.js"
import { KvHostnameClaimsLive } from "../adapters/claims/KvHostnameClaims.js"
import { HttpOpenApiScraperLive } from "../adapters/openapi/HttpOpenApiScraper.js"
import { KvRoutingServiceLive } from "../adapters/routing/KvRoutingService.js"
import type { Archive } from "../eventstore/Archive.js"
import type { EventStore } from "../eventstore/EventStore.js"
import { EventStoreLive } from "../eventstore/JetStreamEventStore.js"
import type { OpenApiScraper } from "../adapters/openapi/OpenApiScraper.js"
import type { RoutingService } from "../adapters/routing/RoutingService.js"
import { type Secrets, SecretsLive } from "../secrets/Secrets.js"
import { ActorSystemLive } from "./ActorSystem.js"
import { CommandIntakeLive } from "./CommandIntake.js"
import { ProjectOwnershipLive } from "../partitions/Ownership.js"

/**
 * Everything the actors need except Krane and NATS; routing is exposed for callers that read it.
 * Secrets (the keys that seal env values) come from BERTH_SECRETS_KEY or the data dir's keys file.
 */
export const StepAdaptersLive = (settings: OrchestratorSettings) =>
  Layer.mergeAll(
    EventStoreLive,
    KvRoutingServiceLive,
    HttpOpenApiScraperLive({ timeout: settings.scrapeTimeout, maxBytes: settings.scrapeMaxBytes }),
    SecretsLive.fromConfig
  )

/** The orchestrator over given step adapters (tests wrap them to stop a process mid-step). */
export const OrchestratorWith = <E, R>(
  settings: OrchestratorSettings,
  adapters: Layer.Layer<EventStore | Archive | RoutingService | OpenApiScraper | Secrets, E, R>
) =>
  CommandIntakeLive(settings).pipe(
    Layer.provideMerge(ActorSystemLive(settings)),
    Layer.provideMerge(adapters),
    // Hostname claims are backfilled from the route table before the first command is decided.
    Layer.provideMerge(KvHostnameClaimsLive),
    // Partitioned or not is found out first: the actor system resumes only the projects it may decide for.
    Layer.provideMerge(ProjectOwnershipLive(settings))
  )

export const OrchestratorLive = (settings: OrchestratorSettings) => OrchestratorWith(settings, StepAdaptersLive(settings))
