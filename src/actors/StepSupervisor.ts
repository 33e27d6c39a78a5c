/**
 * The slow steps of one project actor: starts each step the state asks for (domain/steps.ts) in a
 * child fiber that reports through the mailbox, at most one per step kind and deployment; stops the
 * read-only steps of a deployment that was cancelled or failed. Route writes are not here: they are
 * quick and run as a plain call in decision order (ProjectActor).
 */
import { Effect, Fiber, Queue, type Scope } from "effect"
import type { OrchestratorSettings } from "../config.js"
import type { ProjectState } from "../domain/state.js"
import { nextSteps, stepKey, type Step } from "../domain/steps.js"
import type { MailboxItem } from "./mailbox.js"
import { runStep, type Report, type StepContext } from "./StepRunner.js"

/** Steps that only read: safe to interrupt when their deployment is cancelled. */
const interruptibleKinds: ReadonlyArray<Step["kind"]> = ["await-instances", "scrape-openapi"]

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

export const makeStepSupervisor = (
  projectId: string,
  settings: OrchestratorSettings,
  scope: Scope.Scope,
  mailbox: Queue.Queue<MailboxItem>,
  context: Omit<StepContext, "projectId" | "settings" | "replicas">
) => {
  const running = new Map<string, { readonly step: Step; readonly fiber: Fiber.RuntimeFiber<void> }>()

  const report =
    (key: string): Report =>
    (result, final) =>
      Queue.offer(mailbox, { kind: "step", key, final, result }).pipe(Effect.asVoid)

  const busy = (deploymentId: string) => {
    for (const entry of running.values()) if (entry.step.deploymentId === deploymentId) return true
    return false
  }

  // A compensation waits for the step in flight to reach its boundary, so it never races a Krane create.
  const launchable = (step: Step) =>
    !isInline(step) && !running.has(stepKey(step)) && !(step.kind === "compensate" && busy(step.deploymentId))

  /** A cancelled deployment's read-only steps stop now; a Krane create finishes first. */
  const stoppable = (state: ProjectState, step: Step) => {
    const deployment = state.deployments[step.deploymentId]
    const finished = deployment === undefined || deployment.status === "cancelled" || deployment.status === "failed"
    return finished && interruptibleKinds.includes(step.kind)
  }

  return {
    /** Steps in flight: while any, the actor cannot retire (they will report). */
    get size() {
      return running.size
    },
    busy,
    /** A step's last report arrived. */
    finished: (key: string) => {
      running.delete(key)
    },
    hasStoppable: (state: ProjectState) => {
      for (const entry of running.values()) if (stoppable(state, entry.step)) return true
      return false
    },
    stopFinished: (state: ProjectState) =>
      Effect.suspend(() => {
        const stopping = [...running].filter(([, entry]) => stoppable(state, entry.step))
        for (const [key] of stopping) running.delete(key)
        return Effect.forEach(stopping, ([, entry]) => Fiber.interrupt(entry.fiber), { discard: true })
      }),
    hasLaunchable: (due: ReadonlyArray<Step>) => due.some(launchable),
    launch: (state: ProjectState, due: ReadonlyArray<Step>) =>
      Effect.forEach(
        due.filter(launchable),
        (step) => {
          const key = stepKey(step)
          const replicas = state.deployments[step.deploymentId]?.replicas ?? 1
          return runStep(step, { ...context, projectId, settings, replicas }, report(key)).pipe(
            Effect.catchAllCause((cause) =>
              report(key)(
                { type: "StepFailed", deploymentId: step.deploymentId, step: step.kind, reason: `internal error: ${cause.toString().slice(0, 500)}` },
                true
              )
            ),
            Effect.forkIn(scope),
            Effect.map((fiber) => {
              running.set(key, { step, fiber })
            })
          )
        },
        { discard: true }
      )
  }
}

export type StepSupervisor = ReturnType<typeof makeStepSupervisor>
