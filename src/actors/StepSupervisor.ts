/**
 * The slow steps of one project actor: starts the step the state asks for (domain/steps.ts) in a
 * child fiber that reports through the mailbox, at most one run per deployment; stops the read-only
 * steps of a deployment that was cancelled or failed. Route writes are not here: they are quick and
 * run as a plain call in decision order (ProjectActor).
 *
 * A run carries on into the deployment's next step when that step only reads (await-instances after
 * krane-create, scrape-openapi after await-instances) and its results so far decide no effect: the
 * results then reach the actor together, as one decision and one envelope. With instances RUNNING at
 * the first poll a deployment is two envelopes (its Deploy, then create + wait + scrape + domains)
 * instead of four, with one fiber instead of three. Nothing is less durable: a result is recorded
 * only by the actor's append, and a run stopped before it reported leaves its steps due again (each
 * is idempotent). A result that would not be recorded alone (stale, a duplicate) is not here either.
 */
import { Clock, Duration, Effect, Fiber, Queue, type Scope } from "effect"
import type { OrchestratorSettings } from "../config.js"
import { decide } from "../domain/decide.js"
import type { StepResult } from "../domain/stepResults.js"
import { evolveAll, type ProjectState } from "../domain/state.js"
import { nextSteps, stepOf, type Step } from "../domain/steps.js"
import type { MailboxItem } from "./mailbox.js"
import { runStep, type Report, type StepContext } from "./StepRunner.js"

/** Steps that only read: safe to interrupt when their deployment is cancelled, and to run on into. */
const readOnly = (step: Step): boolean => step.kind === "await-instances" || step.kind === "scrape-openapi"

/** Steps whose next step may be one that only reads (a scrape is followed by the route write). */
const leadsToReadOnly = (step: Step): boolean => step.kind === "krane-create" || step.kind === "await-instances"

/** The route write: run inline by the actor, never in a fiber. */
export const isInline = (step: Step): step is Extract<Step, { kind: "assign-domains" }> => step.kind === "assign-domains"

/** The steps due in `state`, worked out once per state (the follow-ups ask several times). */
export const makeDueSteps = () => {
  let of: ProjectState | undefined
  let due: ReadonlyArray<Step> = []
  return (state: ProjectState): ReadonlyArray<Step> => {
    if (state !== of) {
      of = state
      due = nextSteps(state)
    }
    return due
  }
}

interface Run {
  readonly id: number
  /** The step the run is at now (it moves on when it carries on into the next one). */
  step: Step
  fiber: Fiber.RuntimeFiber<void> | undefined
  /** Results reported and not yet sent to the actor (a run carrying on holds them until it stops). */
  unsent: Array<StepResult>
}

/** A run's results so far decided on the actor's state `base`: reused while the actor's state stays `base`. */
interface Foreseen {
  readonly base: ProjectState
  readonly decided: number
  readonly after: ProjectState
}

/**
 * The step a run goes on to after `results`, if it may: the deployment's next step in the actor's
 * state with every result of the run so far decided on it (results it holds already decide
 * nothing), when each decides plain events and the next step only reads.
 */
const carryOn = (
  state: ProjectState,
  foreseen: Foreseen | undefined,
  step: Step,
  results: ReadonlyArray<StepResult>,
  now: number,
  settings: OrchestratorSettings
): { readonly next: Step | undefined; readonly foreseen: Foreseen | undefined } => {
  if (!leadsToReadOnly(step)) return { next: undefined, foreseen }
  const inputs = { now, readinessTimeoutMs: Duration.toMillis(settings.readinessTimeout), apexDomains: settings.apexDomains }
  const reuse = foreseen !== undefined && foreseen.base === state
  let after = reuse ? foreseen.after : state
  for (let i = reuse ? foreseen.decided : 0; i < results.length; i++) {
    const result = results[i]
    if (result === undefined) continue
    const decision = decide(after, result, inputs)
    if (decision._tag !== "Record") return { next: undefined, foreseen: undefined }
    if (decision.events.length > 0) after = evolveAll(after, decision.events, null)
  }
  const next = stepOf(after, step.deploymentId)
  return {
    next: next !== undefined && readOnly(next) && next.kind !== step.kind ? next : undefined,
    foreseen: { base: state, decided: results.length, after }
  }
}

export const makeStepSupervisor = (
  projectId: string,
  settings: OrchestratorSettings,
  scope: Scope.Scope,
  mailbox: Queue.Queue<MailboxItem>,
  /** The actor's state now: where a run looks whether it may carry on. */
  currentState: () => ProjectState,
  context: Omit<StepContext, "projectId" | "settings" | "replicas">
) => {
  /** deployment id -> its run in flight. */
  const running = new Map<string, Run>()
  let runs = 0

  const busy = (deploymentId: string) => running.has(deploymentId)

  const launchable = (step: Step) => !isInline(step) && !running.has(step.deploymentId)

  /** A cancelled deployment's read-only steps stop now; a Krane create finishes first. */
  const stoppable = (state: ProjectState, run: Run) => {
    const deployment = state.deployments[run.step.deploymentId]
    const finished = deployment === undefined || deployment.status === "cancelled" || deployment.status === "failed"
    return finished && readOnly(run.step)
  }

  const start = (state: ProjectState, step: Step) =>
    Effect.suspend(() => {
      const run: Run = { id: ++runs, step, fiber: undefined, unsent: [] }
      const deploymentId = step.deploymentId
      const stepContext: StepContext = { ...context, projectId, settings, replicas: state.deployments[deploymentId]?.replicas ?? 1 }
      /** Every result of this run, and the state they lead to. */
      const results: Array<StepResult> = []
      let foreseen: Foreseen | undefined
      const send = (final: boolean) => {
        const item: MailboxItem = { kind: "step", deploymentId, run: run.id, final, results: run.unsent }
        run.unsent = []
        return Queue.offer(mailbox, item)
      }
      const report: Report = (result, final) =>
        Effect.suspend(() => {
          results.push(result)
          run.unsent.push(result)
          if (!final) return send(false)
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const carried = carryOn(currentState(), foreseen, run.step, results, now, settings)
            foreseen = carried.foreseen
            const next = carried.next
            if (next === undefined) return send(true)
            // Moved on in the same synchronous step as the state was read: a cancel decided from now on stops it.
            run.step = next
            return runStep(next, stepContext, report)
          })
        })
      running.set(deploymentId, run)
      return runStep(step, stepContext, report).pipe(
        Effect.catchAllCause((cause) =>
          Effect.suspend(() => {
            run.unsent.push({
              type: "StepFailed",
              deploymentId,
              step: run.step.kind,
              reason: `internal error: ${cause.toString().slice(0, 500)}`
            })
            return send(true)
          })
        ),
        Effect.asVoid,
        Effect.forkIn(scope),
        Effect.map((fiber) => {
          run.fiber = fiber
        })
      )
    })

  return {
    /** Runs in flight: while any, the actor cannot retire (they will report). */
    get size() {
      return running.size
    },
    busy,
    /** A run's last report arrived (a run stopped and replaced since is not this one). */
    finished: (deploymentId: string, run: number) => {
      if (running.get(deploymentId)?.id === run) running.delete(deploymentId)
    },
    hasStoppable: (state: ProjectState) => {
      for (const run of running.values()) if (stoppable(state, run)) return true
      return false
    },
    stopFinished: (state: ProjectState) =>
      Effect.suspend(() => {
        const stopping = [...running.values()].filter((run) => stoppable(state, run))
        for (const run of stopping) running.delete(run.step.deploymentId)
        return Effect.forEach(stopping, (run) => (run.fiber === undefined ? Effect.void : Effect.asVoid(Fiber.interrupt(run.fiber))), { discard: true })
      }),
    /**
     * The results runs hold back while they carry on, taken to be decided now: a command is decided
     * on every result reported before it (a cancel during a scrape names the scrape, as it would
     * have had each step reported alone).
     */
    takeUnsent: (): ReadonlyArray<StepResult> => {
      let taken: Array<StepResult> | undefined
      for (const run of running.values()) {
        if (run.unsent.length === 0) continue
        taken = taken === undefined ? run.unsent : [...taken, ...run.unsent]
        run.unsent = []
      }
      return taken ?? []
    },
    hasLaunchable: (due: ReadonlyArray<Step>) => due.some(launchable),
    launch: (state: ProjectState, due: ReadonlyArray<Step>) => Effect.forEach(due.filter(launchable), (step) => start(state, step), { discard: true })
  }
}

export type StepSupervisor = ReturnType<typeof makeStepSupervisor>
