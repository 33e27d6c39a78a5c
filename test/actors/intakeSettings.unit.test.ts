import { ConfigProvider, Duration, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { orchestratorSettings } from "../../src/config.js"

const read = (env: Record<string, string>) =>
  Effect.runSync(Effect.either(Effect.withConfigProvider(orchestratorSettings, ConfigProvider.fromMap(new Map(Object.entries(env))))))

describe("poison and redelivery settings", () => {
  it("default to 10 deliveries, 1 s … 60 s backoff, 2 s mailbox wait, 30 s load deadline, 10 s quarantine retry", () => {
    const settings = read({})
    expect(Either.isRight(settings)).toBe(true)
    if (Either.isLeft(settings)) return
    expect(settings.right.intakeMaxDeliver).toBe(10)
    expect(settings.right.intakeBackoff.map(Duration.toMillis)).toEqual([1_000, 2_000, 5_000, 10_000, 30_000, 60_000])
    expect(Duration.toMillis(settings.right.mailboxOfferTimeout)).toBe(2_000)
    expect(Duration.toMillis(settings.right.actorLoadTimeout)).toBe(30_000)
    expect(Duration.toMillis(settings.right.quarantineRetry)).toBe(10_000)
  })

  it("read a backoff list in Effect's duration forms, comma-separated", () => {
    const settings = read({ BERTH_INTAKE_BACKOFF: "250 millis, 3 seconds,1 minute", BERTH_INTAKE_MAX_DELIVER: "4" })
    expect(Either.map(settings, (s) => [s.intakeMaxDeliver, s.intakeBackoff.map(Duration.toMillis)])).toEqual(Either.right([4, [250, 3_000, 60_000]]))
  })

  it.each([["BERTH_INTAKE_BACKOFF", "1s,2s"], ["BERTH_INTAKE_BACKOFF", ","], ["BERTH_INTAKE_MAX_DELIVER", "0"]])(
    "refuse %s=%s naming the variable",
    (name, value) => {
      const settings = read({ [name]: value })
      expect(Either.isLeft(settings)).toBe(true)
      if (Either.isRight(settings)) return
      expect(String(settings.left)).toContain(name)
    }
  )
})

describe("step retry settings", () => {
  it.each([
    [{}, 8, 5],
    [{ BERTH_STEP_ATTEMPTS_ASSIGN_DOMAINS: "3" }, 3, 5],
    [{ BERTH_STEP_ATTEMPTS: "2" }, 8, 2]
  ])("with %j the route write gets %i attempts and the other steps %i", (env, assignDomains, others) => {
    const settings = read(env)
    expect(Either.isRight(settings)).toBe(true)
    if (Either.isLeft(settings)) return
    // A NATS outage (a cluster electing the routes bucket's leader) is waited out, not charged to the deployment.
    expect(settings.right.stepRetries["assign-domains"]?.attempts ?? settings.right.stepAttempts).toBe(assignDomains)
    expect(settings.right.stepRetries["krane-create"]?.attempts ?? settings.right.stepAttempts).toBe(others)
  })
})
