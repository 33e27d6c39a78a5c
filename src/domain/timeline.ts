/**
 * A deployment's step timeline: which step it waits on, and how each event moves its steps (which
 * end, with which error, which start). The one source of these rules: the project state asks
 * `waitingOn` (state.ts `currentStep`), the read model folds `stepMarks` into its `deployment_steps`
 * rows (projections/fold.ts) and orders them by `stepOrder` (projections/queries.ts).
 */
import { StepName, type Instance, type ProjectEvent } from "./events.js"

/** The steps in the order a deployment goes through them (compensation last). */
export const stepOrder: ReadonlyArray<StepName> = StepName.literals

/** Sorts timeline entries by `stepOrder`. */
export const byStepOrder = <A extends { readonly step: StepName }>(a: A, b: A): number =>
  stepOrder.indexOf(a.step) - stepOrder.indexOf(b.step)

/** The reason a cancelled deployment records, in the state and in the read model. */
export const cancelledByUser = "cancelled by user"

/** Every replica has an instance and every instance runs: await-instances is over. */
export const instancesReady = (replicas: number, instances: ReadonlyArray<Instance>): boolean =>
  instances.length >= replicas && instances.every((instance) => instance.status === "RUNNING")

/** What a deployment's progress is, as far as the step it waits on goes. */
export interface Progress {
  readonly status: "pending" | "building" | "deploying" | "ready" | "failed" | "cancelled"
  readonly instancesReady: boolean
  readonly specPending: boolean
}

/** The step a deployment in progress waits on (none once it is ready, failed or cancelled). */
export const waitingOn = (progress: Progress): StepName | undefined => {
  switch (progress.status) {
    case "ready":
    case "failed":
    case "cancelled":
      return undefined
    case "pending":
    case "building":
      return "krane-create"
    case "deploying":
      if (!progress.instancesReady) return "await-instances"
      return progress.specPending ? "scrape-openapi" : "assign-domains"
  }
}

/**
 * One change an event makes to a deployment's timeline, applied in order:
 * - `start`: the step starts unless it already started;
 * - `end`: the step ends (starting at the same moment if it never started); its first end wins, an
 *   error replaces an earlier one;
 * - `endStarted`: the step ends only if it started (its first end wins);
 * - `endOpen`: every started step not ended yet ends with `error`;
 * - `record`: the step is recorded as started and ended at once with `error`, unless it already started.
 */
export type StepMark =
  | { readonly _tag: "start"; readonly step: StepName }
  | { readonly _tag: "end"; readonly step: StepName; readonly error: string | null }
  | { readonly _tag: "endStarted"; readonly step: StepName }
  | { readonly _tag: "endOpen"; readonly error: string }
  | { readonly _tag: "record"; readonly step: StepName; readonly error: string }

/** The deployment an event's marks are about, with its marks. */
export interface StepMarks {
  readonly deploymentId: string
  readonly marks: ReadonlyArray<StepMark>
}

const start = (step: StepName): StepMark => ({ _tag: "start", step })
const end = (step: StepName, error: string | null = null): StepMark => ({ _tag: "end", step, error })

// The common marks are shared constants: the projector folds thousands of events per batch.
const building = [end("build"), start("krane-create")]
const created = [end("krane-create"), start("await-instances")]
const instancesUp = [{ _tag: "endStarted", step: "await-instances" } as const, start("scrape-openapi")]
const scraped = [end("scrape-openapi"), start("assign-domains")]
const assigned = [end("assign-domains")]
const wentLive = [end("go-live")]
const compensation = start("compensate")
const cancelled: ReadonlyArray<StepMark> = [{ _tag: "endOpen", error: cancelledByUser }]

/**
 * How `event` moves a deployment's timeline; `replicas` is the deployment's replica count when known
 * (an instance report ends await-instances only for a known deployment with every replica running).
 * Sources are images or commands: building starts and ends at once, and Krane creation begins. go-live
 * ends when a deployment first goes live (a later rollback to it keeps that record). A failed or
 * cancelled deployment is cleaned up at once (compensate starts).
 */
export const stepMarks = (event: ProjectEvent, replicas: number | undefined): StepMarks | undefined => {
  switch (event.type) {
    case "DeploymentBuilding":
      return { deploymentId: event.deploymentId, marks: building }
    case "KraneDeploymentCreated":
      return { deploymentId: event.deploymentId, marks: created }
    case "InstancesObserved":
      return replicas !== undefined && instancesReady(replicas, event.instances)
        ? { deploymentId: event.deploymentId, marks: instancesUp }
        : undefined
    case "OpenApiSpecCaptured":
    case "OpenApiSpecNotFound":
      return { deploymentId: event.deploymentId, marks: scraped }
    case "DomainsAssigned":
      return { deploymentId: event.deploymentId, marks: assigned }
    case "LiveSwitched":
      return { deploymentId: event.to, marks: wentLive }
    case "DeploymentFailed":
      return { deploymentId: event.deploymentId, marks: [end(event.step, event.reason), compensation] }
    case "DeploymentCancelled":
      return {
        deploymentId: event.deploymentId,
        marks: [...cancelled, { _tag: "record", step: event.step, error: cancelledByUser }, compensation]
      }
    case "DeploymentCompensated":
      return { deploymentId: event.deploymentId, marks: [end("compensate", event.problem ?? null)] }
    // Listed so that a new event type must be placed here; without these labels the switch would
    // answer undefined all the same, so a mutant emptying one is equivalent.
    // Stryker disable StringLiteral: see above
    case "ProjectCreated":
    case "DeploymentRequested":
    case "DeploymentReady":
    case "DomainsSwitched":
    case "RollbackCleared":
    case "CommandRejected":
      return undefined
    // Stryker restore StringLiteral
  }
}
