/**
 * The step plan: which side effects a project's state asks for now. The actor runs what this says
 * after every decision and after rehydration, which is how a new process resumes in-flight work:
 * a step whose result was never recorded is simply due again (so every step must be idempotent).
 */
import { Either } from "effect"
import type { DeploySource } from "./commands.js"
import type { StepResult } from "./stepResults.js"
import { planRoutes, routeTableWith, type RouteTable } from "./routes.js"
import type { DomainAssignment } from "./events.js"
import { kraneDeploymentId, openApiObjectName } from "./kraneIds.js"
import { allInstancesRunning, isTerminal, needsCompensation, type DeploymentState, type ProjectState } from "./state.js"

export type Step =
  | {
      readonly kind: "krane-create"
      readonly deploymentId: string
      readonly namespace: string
      /** The id Krane knows the deployment by: keyed by project too (kraneIds.ts). */
      readonly kraneDeploymentId: string
      readonly source: DeploySource
      readonly replicas: number
      readonly port: number
      readonly cpuMillicores: number
      readonly memorySizeMib: number
      readonly env: Readonly<Record<string, string>>
    }
  | {
      readonly kind: "await-instances"
      readonly deploymentId: string
      readonly namespace: string
      readonly kraneDeploymentId: string
      readonly readyDeadlineAt: number
    }
  | {
      readonly kind: "scrape-openapi"
      readonly deploymentId: string
      /** Where the document goes in the object store: keyed by project too. */
      readonly objectName: string
      readonly path: string | undefined
      readonly addresses: ReadonlyArray<string>
    }
  | {
      readonly kind: "assign-domains"
      readonly deploymentId: string
      readonly assign: ReadonlyArray<DomainAssignment>
      readonly withheld: ReadonlyArray<DomainAssignment>
      readonly table: RouteTable
    }

  | { readonly kind: "compensate"; readonly deploymentId: string; readonly namespace: string; readonly kraneDeploymentId: string }

/** A stable key per step and deployment: the actor runs at most one of each at a time. */
export const stepKey = (step: Step): string => `${step.kind}:${step.deploymentId}`

/**
 * The Krane id a deployment has (or will have). Recorded once created; a deployment created before
 * Krane ids were keyed by project (its KraneDeploymentCreated has no id) kept its own id there.
 */
export const kraneIdOf = (projectId: string, deployment: DeploymentState): string =>
  deployment.kraneDeploymentId ?? (deployment.kraneNamespace !== undefined ? deployment.id : kraneDeploymentId(projectId, deployment.id))

const stepFor = (state: ProjectState, deployment: DeploymentState): Step | undefined => {
  const project = state.project
  if (project === null) return undefined
  if (needsCompensation(deployment)) {
    return {
      kind: "compensate",
      deploymentId: deployment.id,
      namespace: deployment.kraneNamespace ?? project.workspace,
      kraneDeploymentId: kraneIdOf(project.projectId, deployment)
    }
  }
  if (isTerminal(deployment.status)) return undefined
  if (deployment.status === "building") {
    return {
      kind: "krane-create",
      deploymentId: deployment.id,
      namespace: project.workspace,
      kraneDeploymentId: kraneDeploymentId(project.projectId, deployment.id),
      source: deployment.source,
      replicas: deployment.replicas,
      port: deployment.port,
      cpuMillicores: deployment.cpuMillicores,
      memorySizeMib: deployment.memorySizeMib,
      env: deployment.env
    }
  }
  if (deployment.status !== "deploying") return undefined
  if (!allInstancesRunning(deployment)) {
    return {
      kind: "await-instances",
      deploymentId: deployment.id,
      namespace: deployment.kraneNamespace ?? project.workspace,
      kraneDeploymentId: kraneIdOf(project.projectId, deployment),
      readyDeadlineAt: deployment.readyDeadlineAt ?? 0
    }
  }
  if (deployment.spec === "pending") {
    return {
      kind: "scrape-openapi",
      deploymentId: deployment.id,
      objectName: openApiObjectName(project.projectId, deployment.id),
      path: project.openApiPath,
      addresses: deployment.instances.map((instance) => instance.address)
    }
  }
  return assignDomainsOf(state, deployment.id)
}

/** The assign-domains step of a deployment whose spec is settled: its hostnames and the table they make. */
export const assignDomainsOf = (state: ProjectState, deploymentId: string): Extract<Step, { kind: "assign-domains" }> => {
  const plan = planRoutes(state, deploymentId)
  return {
    kind: "assign-domains",
    deploymentId,
    assign: plan.assign,
    withheld: plan.withheld,
    table: routeTableWith(state, deploymentId, plan.assign)
  }
}

/** The step one deployment has due, if any. */
export const stepOf = (state: ProjectState, deploymentId: string): Step | undefined => {
  const deployment = state.deployments[deploymentId]
  return deployment === undefined ? undefined : stepFor(state, deployment)
}

export const nextSteps = (state: ProjectState): ReadonlyArray<Step> =>
  Object.values(state.deployments).flatMap((deployment) => {
    const step = stepFor(state, deployment)
    return step === undefined ? [] : [step]
  })

export const hasWorkInFlight = (state: ProjectState): boolean =>
  Object.values(state.deployments).some((deployment) => !isTerminal(deployment.status) || needsCompensation(deployment))

/** What the route write of an assign-domains step proves: the revision it got, or why it failed. */
export const domainsWritten = (
  step: Extract<Step, { kind: "assign-domains" }>,
  written: Either.Either<number, string>
): StepResult =>
  Either.isRight(written)
    ? { type: "RoutesWritten", deploymentId: step.deploymentId, domains: step.assign, withheld: step.withheld, routeRevision: written.right }
    : { type: "StepFailed", deploymentId: step.deploymentId, step: "assign-domains", reason: `failed to assign domains: ${written.left}` }
