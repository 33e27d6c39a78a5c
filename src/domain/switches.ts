/**
 * Rollback and Promote (Unkey spec 3.6, 3.7, 5.4, 5.5): pure validation in Unkey's order and with its
 * messages, and the plan of which sticky hostnames move. The actor carries the plan out (one atomic
 * route-table write) and records `switchEvents`; a write that fails moves nothing and is a rejection.
 * Closed holes: the rollback target must be ready; only production deployments switch.
 */
import { Either } from "effect"
import type { Promote, Rollback } from "./commands.js"
import { Rejection } from "./rejection.js"
import type { DomainAssignment, ProjectEvent } from "./events.js"
import { environmentOf } from "./routes.js"
import { deploymentNotFound, projectNotFound } from "./validation.js"
import type { DeploymentState, ProjectState } from "./state.js"

export type SwitchPlan =
  | {
      readonly _tag: "Move"
      readonly reason: "rollback" | "promote"
      readonly targetId: string
      readonly fromLive: string | null
      readonly domains: ReadonlyArray<DomainAssignment>
    }
  /** Promote of the deployment a rollback made live: clear the flag, move nothing. */
  | { readonly _tag: "Confirm"; readonly targetId: string }

export type SwitchDecision = Either.Either<SwitchPlan, Rejection>

const reject = (code: Rejection["code"], message: string): SwitchDecision => Either.left(new Rejection({ code, message }))

/** The live and environment hostnames of an environment: what a rollback or promote moves. */
export const stickyDomainsOf = (state: ProjectState, environmentId: string): ReadonlyArray<DomainAssignment> =>
  Object.entries(state.routes)
    .filter(([, route]) => route.environmentId === environmentId && (route.sticky === "live" || route.sticky === "environment"))
    .map(([hostname, route]) => ({ hostname, sticky: route.sticky }))
    .sort((a, b) => a.hostname.localeCompare(b.hostname))

/** Whether the deployment is in its project's production environment: only those go or are made live. */
export const isProduction = (state: ProjectState, deployment: DeploymentState): boolean =>
  state.project !== null && environmentOf(state.project, deployment.environmentId)?.kind === "production"

/** A rollback's first check (Unkey spec 3.6 step 1), before any lookup: the API runs it too. */
export const rollbackIdsIssue = (sourceId: string, targetId: string): Rejection | undefined =>
  sourceId === targetId
    ? new Rejection({ code: "invalid_input", message: "source and target deployments must be different" })
    : undefined

/**
 * A rollback's next checks (spec 3.6 steps 2-3): the source exists, then the target. `find` answers
 * from what the caller has: the actor's state, or the API's read model.
 */
export const rollbackDeployments = <D>(
  sourceId: string,
  targetId: string,
  find: (deploymentId: string) => D | undefined
): Either.Either<{ readonly source: D; readonly target: D }, Rejection> => {
  const source = find(sourceId)
  if (source === undefined) return Either.left(new Rejection({ code: "deployment_not_found", message: `source deployment not found: ${sourceId}` }))
  const target = find(targetId)
  if (target === undefined) return Either.left(new Rejection({ code: "deployment_not_found", message: `target deployment not found: ${targetId}` }))
  return Either.right({ source, target })
}

/**
 * `runningInstances`: the target's instances Krane reports RUNNING now (the actor asks just before
 * deciding; the recorded ones when Krane cannot answer).
 */
export const planRollback = (state: ProjectState, command: Rollback, runningInstances: number): SwitchDecision => {
  const { sourceDeploymentId: sourceId, targetDeploymentId: targetId } = command
  const ids = rollbackIdsIssue(sourceId, targetId)
  if (ids !== undefined) return Either.left(ids)
  if (state.project === null) return Either.left(projectNotFound(command.projectId))
  const found = rollbackDeployments(sourceId, targetId, (id) => state.deployments[id])
  if (Either.isLeft(found)) return Either.left(found.left)
  const { source, target } = found.right
  if (source.environmentId !== target.environmentId) {
    return reject("precondition_failed", "deployments must be in the same environment")
  }
  if (state.liveDeploymentId !== sourceId) {
    return reject("precondition_failed", "source deployment is not the current live deployment")
  }
  if (target.status !== "ready") return reject("precondition_failed", `The deployment is not ready. (${targetId} is ${target.status})`)
  if (!isProduction(state, target)) return reject("precondition_failed", "Only production deployments can be promoted or rolled back.")
  if (runningInstances === 0) return reject("precondition_failed", `no running VMs found for target deployment: ${targetId}`)
  const domains = stickyDomainsOf(state, source.environmentId)
  if (domains.length === 0) return reject("precondition_failed", "no domains to rollback")
  return Either.right({ _tag: "Move", reason: "rollback", targetId, fromLive: state.liveDeploymentId, domains })
}

export const planPromote = (state: ProjectState, command: Promote, runningInstances: number): SwitchDecision => {
  const targetId = command.deploymentId
  if (state.project === null) return Either.left(projectNotFound(command.projectId))
  const target = state.deployments[targetId]
  if (target === undefined) return Either.left(deploymentNotFound(targetId))
  if (target.status !== "ready") return reject("precondition_failed", `deployment status must be ready, got: ${target.status}`)
  if (state.liveDeploymentId === null) return reject("precondition_failed", "project has no live deployment")
  if (!isProduction(state, target)) return reject("precondition_failed", "Only production deployments can be promoted or rolled back.")
  if (runningInstances === 0) return reject("precondition_failed", `no running VMs found for target deployment: ${targetId}`)
  if (state.liveDeploymentId === targetId) {
    if (state.rolledBack) return Either.right({ _tag: "Confirm", targetId })
    return reject("precondition_failed", "target deployment is already the live deployment")
  }
  const domains = stickyDomainsOf(state, target.environmentId)
  if (domains.length === 0) return reject("precondition_failed", "no domains found for promotion")
  return Either.right({ _tag: "Move", reason: "promote", targetId, fromLive: state.liveDeploymentId, domains })
}

/** The events of a carried-out plan. */
export const switchEvents = (plan: SwitchPlan, routeRevision: number): ReadonlyArray<ProjectEvent> =>
  plan._tag === "Confirm"
    ? [{ type: "RollbackCleared", deploymentId: plan.targetId }]
    : [
        { type: "DomainsSwitched", toDeploymentId: plan.targetId, domains: plan.domains, reason: plan.reason, routeRevision },
        { type: "LiveSwitched", from: plan.fromLive, to: plan.targetId, reason: plan.reason }
      ]
