/**
 * Runs the side effect of one step and reports what happened as StepResults. Every step is
 * idempotent (keyed by deployment id, or a whole-table write), because a step whose result was not
 * recorded before a crash runs again on resume. No step retries forever: each has a bounded
 * schedule, and giving up is reported as StepFailed with a reason a user can act on.
 */
import { Clock, Duration, Effect, Schedule } from "effect"
import type { OrchestratorSettings } from "../config.js"
import { Krane, type KraneDeploymentSpec, type KraneInstance } from "../adapters/krane/Krane.js"
import { OpenApiScraper } from "../adapters/openapi/OpenApiScraper.js"
import { RoutingService } from "../adapters/routing/RoutingService.js"
import type { Instance } from "../domain/events.js"
import type { Step } from "../domain/steps.js"
import type { StepResult } from "../domain/stepResults.js"

export type Report = (result: StepResult, final: boolean) => Effect.Effect<void>

/** Exponential backoff from `stepBackoff`, at most `stepAttempts` tries in all. */
export const stepRetry = (settings: OrchestratorSettings) =>
  Schedule.exponential(settings.stepBackoff).pipe(Schedule.intersect(Schedule.recurs(settings.stepAttempts - 1)))

const describe = (error: { readonly message: string }): string => error.message

const kraneCreate = (step: Extract<Step, { kind: "krane-create" }>, settings: OrchestratorSettings, report: Report) =>
  Effect.gen(function* () {
    const krane = yield* Krane
    const spec: KraneDeploymentSpec = {
      namespace: step.namespace,
      deploymentId: step.deploymentId,
      replicas: step.replicas,
      cpuMillicores: step.cpuMillicores,
      memorySizeMib: step.memorySizeMib,
      port: step.port,
      env: step.env,
      ...("image" in step.source ? { image: step.source.image } : { command: step.source.command })
    }
    const what = "image" in step.source ? `image ${step.source.image}` : `command ${step.source.command.join(" ")}`
    yield* krane.createDeployment(spec).pipe(
      Effect.retry({ schedule: stepRetry(settings), while: (error) => error._tag === "KraneUnavailable" }),
      Effect.matchEffect({
        onSuccess: () => report({ type: "KraneCreated", deploymentId: step.deploymentId, namespace: step.namespace }, true),
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
      const polled = yield* krane.getDeployment(step.namespace, step.deploymentId).pipe(
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
          Effect.annotateLogs({ deploymentId: step.deploymentId, error: describe(polled.left) })
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
    const outcome = yield* scraper.scrape(step.deploymentId, step.addresses, path).pipe(
      Effect.retry(stepRetry(settings)),
      Effect.catchAll((error) => Effect.succeed({ _tag: "NotFound" as const, reason: `could not fetch: ${error.message}` }))
    )
    const result: StepResult =
      outcome._tag === "Captured"
        ? { type: "SpecCaptured", deploymentId: step.deploymentId, path, ...outcome }
        : { type: "SpecNotFound", deploymentId: step.deploymentId, path, reason: outcome.reason }
    yield* report(result, true)
  })

const assignDomains = (
  step: Extract<Step, { kind: "assign-domains" }>,
  basedOnVersion: number,
  settings: OrchestratorSettings,
  report: Report
) =>
  Effect.gen(function* () {
    const routing = yield* RoutingService
    yield* routing.writeTable(step.table, basedOnVersion).pipe(
      Effect.retry({ schedule: stepRetry(settings), while: (error) => error._tag === "RoutingUnavailable" }),
      Effect.matchEffect({
        onSuccess: (revision) =>
          report(
            {
              type: "RoutesWritten",
              deploymentId: step.deploymentId,
              domains: step.assign,
              withheld: step.withheld,
              routeRevision: revision
            },
            true
          ),
        onFailure: (error) =>
          report(
            {
              type: "StepFailed",
              deploymentId: step.deploymentId,
              step: "assign-domains",
              reason:
                error._tag === "StaleRouteTable"
                  ? `failed to assign domains: the route table was written by a newer decision (version ${error.storedVersion})`
                  : `failed to assign domains: ${error.message}`
            },
            true
          )
      })
    )
  })

export interface StepContext {
  readonly settings: OrchestratorSettings
  /** The project version the step was planned at. */
  readonly basedOnVersion: number
  readonly replicas: number
}

export type StepRequirements = Krane | OpenApiScraper | RoutingService

export const runStep = (step: Step, context: StepContext, report: Report): Effect.Effect<void, never, StepRequirements> => {
  const run: Effect.Effect<void, never, StepRequirements> = (() => {
    switch (step.kind) {
      case "krane-create":
        return kraneCreate(step, context.settings, report)
      case "await-instances":
        return awaitInstances(step, context.replicas, context.settings, report)
      case "scrape-openapi":
        return scrapeOpenApi(step, context.settings, report)
      case "assign-domains":
        return assignDomains(step, context.basedOnVersion, context.settings, report)
    }
  })()
  return run.pipe(Effect.withSpan(`step.${step.kind}`, { attributes: { deploymentId: step.deploymentId } }))
}
