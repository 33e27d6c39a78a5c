/**
 * Berth's settings, read from the environment with defaults (the README's configuration table).
 */
import { Config, ConfigError, Duration, Either, Option } from "effect"
import { defaultApexDomains, parseApexDomains } from "./domain/apex.js"

/** Steps with their own retry policy (await-instances is bounded by the readiness deadline instead). */
export const retriedSteps = ["krane-create", "scrape-openapi", "assign-domains", "compensate"] as const
export type RetriedStep = (typeof retriedSteps)[number]

/** A step's own attempts and backoff; what it leaves out comes from stepAttempts / stepBackoff. */
export interface RetryPolicy {
  readonly attempts?: number
  readonly backoff?: Duration.Duration
}

/**
 * Built-in per-step policies (an env setting overrides them). assign-domains writes Berth's own KV, so
 * what fails it is NATS itself — e.g. a cluster electing a bucket's leader after a node died, 5–20 s —
 * which is waited out (8 attempts from 500 ms: ~1 minute) rather than charged to the deployment.
 */
export const builtInStepRetries: Readonly<Partial<Record<RetriedStep, RetryPolicy>>> = { "assign-domains": { attempts: 8 } }

export interface OrchestratorSettings {
  /** How long a deployment may wait for all its instances to run before it fails. */
  readonly readinessTimeout: Duration.Duration
  /** How often Krane is asked about a deployment's instances while waiting. */
  readonly pollInterval: Duration.Duration
  readonly openApiPath: string
  readonly scrapeTimeout: Duration.Duration
  readonly scrapeMaxBytes: number
  /** Attempts of a failing step before the deployment fails (exponential backoff between them). */
  readonly stepAttempts: number
  readonly stepBackoff: Duration.Duration
  /** Per-step overrides of stepAttempts / stepBackoff. */
  readonly stepRetries: Readonly<Partial<Record<RetriedStep, RetryPolicy>>>
  readonly mailboxCapacity: number
  /** A project actor with nothing to do stops after this long; its next message starts it again. */
  readonly idleTimeout: Duration.Duration
  /** A snapshot is written after this many envelopes since the last one. */
  readonly snapshotEvery: number
  /**
   * At each snapshot, finished deployments older than this many most recent ones move from the hot
   * state to the archive (src/domain/retirement.ts). A command naming an archived deployment costs one
   * KV read more, so this only needs to cover the usual rollback targets; every hot deployment is
   * parsed on each cold start (about 0.6 KiB each).
   */
  readonly hotDeployments: number
  /**
   * Deliveries of one command before it is dead-lettered (`berth.dlq.exhausted`): the intake
   * consumer's max_deliver. A delivery that fails is nak'd with the next delay of intakeBackoff.
   */
  readonly intakeMaxDeliver: number
  /** Redelivery delays after the 1st, 2nd, … failed delivery (the last one repeats). */
  readonly intakeBackoff: ReadonlyArray<Duration.Duration>
  /** How long the intake waits for room in a busy project's mailbox before it nak's the command. */
  readonly mailboxOfferTimeout: Duration.Duration
  /** An actor whose load (snapshot + log replay) takes longer fails to start; its commands are nak'd. */
  readonly actorLoadTimeout: Duration.Duration
  /** A quarantined project (undecodable log) retries its load on the next command after this long. */
  readonly quarantineRetry: Duration.Duration
  /**
   * The apex domains projects may use (BERTH_APEX_DOMAINS): a CreateProject with any other is
   * rejected, so no tenant makes Berth serve names in a zone the platform does not own.
   */
  readonly apexDomains: ReadonlyArray<string>
  /**
   * How many partitions projects hash into (BERTH_PARTITIONS): must equal the N of the nats-server's
   * `partition(N,1)` mapping when there is one (src/partitions/); unused on a server without it.
   */
  readonly partitions: number
  /** A partition lease not renewed for this long lapses and another orchestrator takes it over. */
  readonly leaseTtl: Duration.Duration
}

/** "1 second, 2 seconds, 5 seconds": Effect's duration forms, comma-separated. */
const durationList = (name: string, fallback: ReadonlyArray<Duration.Duration>) =>
  Config.string(name).pipe(
    Config.mapOrFail((text) => {
      const parts = text.split(",").map((part) => part.trim()).filter((part) => part.length > 0)
      const durations = parts.map((part) => Duration.decodeUnknown(part))
      const valid = durations.flatMap((d) => (Option.isSome(d) && Duration.toMillis(d.value) > 0 ? [d.value] : []))
      return valid.length === parts.length && valid.length > 0
        ? Either.right(valid as ReadonlyArray<Duration.Duration>)
        : Either.left(
            ConfigError.InvalidData([], `${name} must be a comma-separated list of positive durations (e.g. "1 second, 5 seconds"), got "${text}"`)
          )
    }),
    Config.withDefault(fallback)
  )

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 })
  )

/** BERTH_APEX_DOMAINS: comma-separated apex domains (the orchestrator rejects, the API answers 400 for, any other). */
export const apexDomainsConfig: Config.Config<ReadonlyArray<string>> = Config.string("BERTH_APEX_DOMAINS").pipe(
  Config.withDefault(defaultApexDomains.join(",")),
  Config.mapOrFail((text) => {
    const parsed = parseApexDomains(text)
    return "domains" in parsed
      ? Either.right(parsed.domains)
      : Either.left(ConfigError.InvalidData([], `BERTH_APEX_DOMAINS ${parsed.problem}, got "${text}"`))
  })
)

const defaultIntakeBackoff: ReadonlyArray<Duration.Duration> = [1, 2, 5, 10, 30, 60].map((s) => Duration.seconds(s))

export const orchestratorSettings: Config.Config<OrchestratorSettings> = Config.all({
  readinessTimeout: Config.duration("BERTH_READINESS_TIMEOUT").pipe(Config.withDefault(Duration.minutes(5))),
  pollInterval: Config.duration("BERTH_POLL_INTERVAL").pipe(Config.withDefault(Duration.seconds(1))),
  openApiPath: Config.string("BERTH_OPENAPI_PATH").pipe(
    Config.withDefault("/openapi.yaml"),
    Config.validate({ message: "BERTH_OPENAPI_PATH must start with /", validation: (p) => p.startsWith("/") })
  ),
  scrapeTimeout: Config.duration("BERTH_SCRAPE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  scrapeMaxBytes: positiveInt("BERTH_SCRAPE_MAX_BYTES", 10 * 1024 * 1024),
  stepAttempts: positiveInt("BERTH_STEP_ATTEMPTS", 5),
  stepBackoff: Config.duration("BERTH_STEP_BACKOFF").pipe(Config.withDefault(Duration.millis(500))),
  stepRetries: Config.all(
    Object.fromEntries(
      retriedSteps.map((step) => {
        const suffix = step.toUpperCase().replace(/-/g, "_")
        return [
          step,
          Config.all({
            attempts: Config.option(
              Config.integer(`BERTH_STEP_ATTEMPTS_${suffix}`).pipe(
                Config.validate({ message: `BERTH_STEP_ATTEMPTS_${suffix} must be a positive integer`, validation: (n) => n > 0 })
              )
            ),
            backoff: Config.option(Config.duration(`BERTH_STEP_BACKOFF_${suffix}`))
          })
        ]
      })
    ) as Record<RetriedStep, Config.Config<{ attempts: Option.Option<number>; backoff: Option.Option<Duration.Duration> }>>
  ).pipe(
    Config.map((policies) =>
      Object.fromEntries(
        Object.entries(policies).map(([step, policy]) => [
          step,
          {
            ...builtInStepRetries[step as RetriedStep],
            ...(Option.isSome(policy.attempts) ? { attempts: policy.attempts.value } : {}),
            ...(Option.isSome(policy.backoff) ? { backoff: policy.backoff.value } : {})
          }
        ])
      )
    )
  ),
  mailboxCapacity: positiveInt("BERTH_MAILBOX_CAPACITY", 256),
  idleTimeout: Config.duration("BERTH_ACTOR_IDLE").pipe(Config.withDefault(Duration.minutes(2))),
  snapshotEvery: positiveInt("BERTH_SNAPSHOT_EVERY", 100),
  hotDeployments: positiveInt("BERTH_HOT_DEPLOYMENTS", 10),
  intakeMaxDeliver: positiveInt("BERTH_INTAKE_MAX_DELIVER", 10),
  intakeBackoff: durationList("BERTH_INTAKE_BACKOFF", defaultIntakeBackoff),
  mailboxOfferTimeout: Config.duration("BERTH_MAILBOX_OFFER_TIMEOUT").pipe(Config.withDefault(Duration.seconds(2))),
  actorLoadTimeout: Config.duration("BERTH_ACTOR_LOAD_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  quarantineRetry: Config.duration("BERTH_QUARANTINE_RETRY").pipe(Config.withDefault(Duration.seconds(10))),
  apexDomains: apexDomainsConfig,
  partitions: positiveInt("BERTH_PARTITIONS", 64).pipe(
    Config.validate({ message: "BERTH_PARTITIONS must be at most 1024", validation: (n) => n <= 1024 })
  ),
  leaseTtl: Config.duration("BERTH_LEASE_TTL").pipe(
    Config.withDefault(Duration.seconds(10)),
    Config.validate({ message: "BERTH_LEASE_TTL must be at least 1 second", validation: (d) => Duration.toMillis(d) >= 1_000 })
  )
})

export const defaultOrchestratorSettings: OrchestratorSettings = {
  readinessTimeout: Duration.minutes(5),
  pollInterval: Duration.seconds(1),
  openApiPath: "/openapi.yaml",
  scrapeTimeout: Duration.seconds(30),
  scrapeMaxBytes: 10 * 1024 * 1024,
  stepAttempts: 5,
  stepBackoff: Duration.millis(500),
  stepRetries: builtInStepRetries,
  mailboxCapacity: 256,
  idleTimeout: Duration.minutes(2),
  snapshotEvery: 100,
  hotDeployments: 10,
  intakeMaxDeliver: 10,
  intakeBackoff: defaultIntakeBackoff,
  mailboxOfferTimeout: Duration.seconds(2),
  actorLoadTimeout: Duration.seconds(30),
  quarantineRetry: Duration.seconds(10),
  apexDomains: defaultApexDomains,
  partitions: 64,
  leaseTtl: Duration.seconds(10)
}
