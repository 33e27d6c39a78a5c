/**
 * Berth's settings, read from the environment with defaults (the README's configuration table).
 */
import { Config, Duration, Option } from "effect"

/** Steps with their own retry policy (await-instances is bounded by the readiness deadline instead). */
export const retriedSteps = ["krane-create", "scrape-openapi", "assign-domains", "compensate"] as const
export type RetriedStep = (typeof retriedSteps)[number]

/** A step's own attempts and backoff; what it leaves out comes from stepAttempts / stepBackoff. */
export interface RetryPolicy {
  readonly attempts?: number
  readonly backoff?: Duration.Duration
}

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
}

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 })
  )

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
  hotDeployments: positiveInt("BERTH_HOT_DEPLOYMENTS", 10)
})

export const defaultOrchestratorSettings: OrchestratorSettings = {
  readinessTimeout: Duration.minutes(5),
  pollInterval: Duration.seconds(1),
  openApiPath: "/openapi.yaml",
  scrapeTimeout: Duration.seconds(30),
  scrapeMaxBytes: 10 * 1024 * 1024,
  stepAttempts: 5,
  stepBackoff: Duration.millis(500),
  stepRetries: {},
  mailboxCapacity: 256,
  idleTimeout: Duration.minutes(2),
  snapshotEvery: 100,
  hotDeployments: 10
}
