/**
 * Runs the side effect of one step and reports what happened as StepResults. Every step is
 * idempotent (keyed by deployment id, or a whole-table write), because a step whose result was not
 * recorded before a crash runs again on resume. No step retries forever: each has a bounded
 * schedule, and giving up is reported as StepFailed with a reason a user can act on.
 */
import { Clock, Duration, Effect, type Either, Schedule } from "effect"
import type { OrchestratorSettings, RetriedStep } from "../config.js"
import { Krane, type KraneDeploymentSpec, type KraneInstance } from "../adapters/krane/Krane.js"
import { OpenApiScraper } from "../adapters/openapi/OpenApiScraper.js"
import type { Instance } from "../domain/events.js"
import type { RouteTable } from "../domain/routes.js"
import { domainsWritten, type Step } from "../domain/steps.js"
import type { StepResult } from "../domain/stepResults.js"
import { Secrets } from "../secrets/Secrets.js"
import { retryAfterFailure } from "../shared/retry.js"

/** Hands a result to the actor; a run that carries on into the next step runs it from here (StepSupervisor). */
export type Report = (result: StepResult, final: boolean) => Effect.Effect<void, never, StepRequirements>

/** Exponential backoff, at most `attempts` tries in all: the step's own policy, else the defaults. */
export const retryFor = (settings: OrchestratorSettings, step: RetriedStep) => {
  const policy = settings.stepRetries[step]
  const attempts = policy?.attempts ?? settings.stepAttempts
  return Schedule.exponential(policy?.backoff ?? settings.stepBackoff).pipe(Schedule.intersect(Schedule.recurs(attempts - 1)))
}

const describe = (error: { readonly message: string }): string => error.message

/**
 * The one place env values are opened: the Krane create request is built with the cleartext and goes
 * no further (never logged, never reported). A value that does not open fails the step, naming the key.
 */
const kraneCreate = (step: Extract<Step, { kind: "krane-create" }>, context: StepContext, report: Report) =>
  Effect.gen(function* () {
    const krane = yield* Krane
    const secrets = yield* Secrets
    const env = yield* Effect.either(secrets.openEnv(context.projectId, step.env))
    if (env._tag === "Left") {
      return yield* report(
        { type: "StepFailed", deploymentId: step.deploymentId, step: "krane-create", reason: `cannot open a sealed env value: ${env.left.message}` },
        true
      )
    }
    const spec: KraneDeploymentSpec = {
      namespace: step.namespace,
      deploymentId: step.kraneDeploymentId,
      replicas: step.replicas,
      cpuMillicores: step.cpuMillicores,
      memorySizeMib: step.memorySizeMib,
      port: step.port,
      env: env.right,
      ...("image" in step.source ? { image: step.source.image } : { command: step.source.command })
    }
    const what = "image" in step.source ? `image ${step.source.image}` : `command ${step.source.command.join(" ")}`
    yield* krane.createDeployment(spec).pipe(
      (self) => retryAfterFailure(self, { schedule: retryFor(context.settings, "krane-create"), while: (error) => error._tag === "KraneUnavailable" }),
      Effect.matchEffect({
        onSuccess: () => report(
            { type: "KraneCreated", deploymentId: step.deploymentId, namespace: step.namespace, kraneDeploymentId: step.kraneDeploymentId },
            true
          ),
        onFailure: (error) =>
          report(
            {
              type: "StepFailed",
              deploymentId: step.deploymentId,
              step: "krane-create",
              reason: `krane CreateDeployment failed for ${what}: ${describe(error)}`
            },
            true
          )
      })
    )
  })

const toInstance = (instance: KraneInstance): Instance => ({
  id: instance.id,
  address: instance.address,
  status: instance.status
})

const awaitInstances = (
  step: Extract<Step, { kind: "await-instances" }>,
  replicas: number,
  settings: OrchestratorSettings,
  report: Report
) =>
  Effect.gen(function* () {
    const krane = yield* Krane
    let last = ""
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      if (now >= step.readyDeadlineAt) {
        return yield* report({ type: "ReadinessTimedOut", deploymentId: step.deploymentId }, true)
      }
      const polled = yield* krane.getDeployment(step.namespace, step.kraneDeploymentId).pipe(
        // Sorted, so the same instances in another order are not a change worth an event.
        Effect.map((instances) => instances.map(toInstance).sort((a, b) => a.id.localeCompare(b.id))),
        Effect.catchTag("KraneDeploymentNotFound", () => Effect.succeed<ReadonlyArray<Instance>>([])),
        Effect.either
      )
      if (polled._tag === "Left") {
        if (polled.left._tag === "KraneRejected") {
          return yield* report(
            {
              type: "StepFailed",
              deploymentId: step.deploymentId,
              step: "await-instances",
              reason: `krane GetDeployment refused: ${describe(polled.left)}`
            },
            true
          )
        }
        // Unavailable: the deadline bounds how long we keep asking.
        yield* Effect.logWarning("krane unavailable while waiting for instances").pipe(
          Effect.annotateLogs({ step: step.kind, deploymentId: step.deploymentId, error: describe(polled.left) })
        )
      } else {
        const instances = polled.right
        const ready = instances.length >= replicas && instances.every((instance) => instance.status === "RUNNING")
        const fingerprint = JSON.stringify(instances)
        if (ready || fingerprint !== last) {
          last = fingerprint
          yield* report({ type: "InstancesPolled", deploymentId: step.deploymentId, instances }, ready)
          if (ready) return
        }
      }
      const remaining = step.readyDeadlineAt - (yield* Clock.currentTimeMillis)
      yield* Effect.sleep(Duration.millis(Math.max(0, Math.min(Duration.toMillis(settings.pollInterval), remaining))))
    }
  })

const scrapeOpenApi = (step: Extract<Step, { kind: "scrape-openapi" }>, settings: OrchestratorSettings, report: Report) =>
  Effect.gen(function* () {
    const scraper = yield* OpenApiScraper
    const path = step.path ?? settings.openApiPath
    const outcome = yield* scraper.scrape(step.objectName, step.addresses, path).pipe(
      (self) => retryAfterFailure(self, { schedule: retryFor(settings, "scrape-openapi") }),
      Effect.catchAll((error) => Effect.succeed({ _tag: "NotFound" as const, reason: `could not fetch: ${error.message}` }))
    )
    const result: StepResult =
      outcome._tag === "Captured"
        ? { type: "SpecCaptured", deploymentId: step.deploymentId, path, ...outcome }
        : { type: "SpecNotFound", deploymentId: step.deploymentId, path, reason: outcome.reason }
    yield* report(result, true)
  })

/** Deletes the Krane deployment of a failed or cancelled deployment (idempotent: unknown = deleted). */
const compensate = (step: Extract<Step, { kind: "compensate" }>, settings: OrchestratorSettings, report: Report) =>
  Effect.gen(function* () {
    const krane = yield* Krane
    const deleted = yield* krane.deleteDeployment(step.namespace, step.kraneDeploymentId).pipe(
      (self) => retryAfterFailure(self, { schedule: retryFor(settings, "compensate"), while: (error) => error._tag === "KraneUnavailable" }),
      Effect.either
    )
    yield* report(
      {
        type: "Compensated",
        deploymentId: step.deploymentId,
        kraneDeleted: deleted._tag === "Right",
        releasedDomains: [],
        ...(deleted._tag === "Left"
          ? { problem: `krane DeleteDeployment failed, delete ${step.namespace}/${step.kraneDeploymentId} by hand: ${describe(deleted.left)}` }
          : {})
      },
      true
    )
  })

/** Writes a project's whole route table (retried, merged with retired routes): its revision or why not. */
export type WriteRoutes = (table: RouteTable) => Effect.Effect<Either.Either<number, string>>

/**
 * Points the deployment's hostnames at it: one whole-table write, derived from the latest state. A
 * scrape's result normally carries this write itself (decide.ts, specSettled); the step is due on its
 * own only for a log whose spec was settled without the domains (recorded by an older version).
 */
const assignDomains = (step: Extract<Step, { kind: "assign-domains" }>, writeRoutes: WriteRoutes, report: Report) =>
  Effect.flatMap(writeRoutes(step.table), (written) => report(domainsWritten(step, written), true))

export interface StepContext {
  /** The project the step is for: env values open for their own project only. */
  readonly projectId: string
  readonly settings: OrchestratorSettings
  readonly replicas: number
  readonly writeRoutes: WriteRoutes
}

export type StepRequirements = Krane | OpenApiScraper | Secrets

/**
 * Spans live on the adapters' calls (Krane, scraper); one per step on top cost ~4 per deployment.
 * Log annotations are on the step's own log lines: a fiber-wide annotation per step cost a FiberRef
 * update (a HashMap) on entry and exit, for logs that almost never come.
 */
export const runStep = (step: Step, context: StepContext, report: Report): Effect.Effect<void, never, StepRequirements> => {
  switch (step.kind) {
    case "krane-create":
      return kraneCreate(step, context, report)
    case "await-instances":
      return awaitInstances(step, context.replicas, context.settings, report)
    case "scrape-openapi":
      return scrapeOpenApi(step, context.settings, report)
    case "compensate":
      return compensate(step, context.settings, report)
    case "assign-domains":
      // Quick, and in decision order: the actor runs it as a plain call, not in a fiber.
      return assignDomains(step, context.writeRoutes, report)
  }
}
