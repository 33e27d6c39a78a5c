/**
 * A project's state: the fold of its events. Plain data (serialisable for snapshots).
 */
import type { DeploySource, EnvironmentSpec, GitInfo } from "./commands.js"
import type { DomainAssignment, Instance, ProjectEvent, StepName, StickyKind } from "./events.js"

export type DeploymentStatus = "pending" | "building" | "deploying" | "ready" | "failed" | "cancelled"

export type SpecOutcome = "pending" | "captured" | "not_found"

export interface DeploymentState {
  readonly id: string
  readonly environmentId: string
  /** Position among the project's deployments: later requests win domains and the live pointer. */
  readonly order: number
  readonly source: DeploySource
  readonly git?: GitInfo | undefined
  readonly replicas: number
  readonly port: number
  readonly cpuMillicores: number
  readonly memorySizeMib: number
  readonly env: Readonly<Record<string, string>>
  readonly status: DeploymentStatus
  readonly kraneNamespace?: string | undefined
  readonly readyDeadlineAt?: number | undefined
  readonly instances: ReadonlyArray<Instance>
  readonly spec: SpecOutcome
  readonly domains: ReadonlyArray<DomainAssignment>
  readonly failure?: { readonly step: StepName; readonly reason: string } | undefined
  /** For a failed or cancelled deployment: its Krane deployment and hostnames were cleaned up. */
  readonly compensated: boolean
}

export interface ProjectInfo {
  readonly projectId: string
  readonly workspace: string
  readonly slug: string
  readonly apexDomain: string
  readonly defaultBranch: string
  readonly openApiPath?: string | undefined
  readonly environments: ReadonlyArray<EnvironmentSpec>
}

export interface RouteEntry {
  readonly deploymentId: string
  readonly sticky: StickyKind
  readonly environmentId: string
}

export interface ProjectState {
  readonly project: ProjectInfo | null
  readonly deployments: Readonly<Record<string, DeploymentState>>
  readonly deploymentCount: number
  readonly liveDeploymentId: string | null
  readonly rolledBack: boolean
  /** hostname -> the deployment it routes to: the route table as the log says it was written. */
  readonly routes: Readonly<Record<string, RouteEntry>>
  /** commandIds already decided (applied or rejected): redelivered commands are recognised here. */
  readonly handledCommands: Readonly<Record<string, true>>
}

export const initialState: ProjectState = {
  project: null,
  deployments: {},
  deploymentCount: 0,
  liveDeploymentId: null,
  rolledBack: false,
  routes: {},
  handledCommands: {}
}

export const isTerminal = (status: DeploymentStatus): boolean =>
  status === "ready" || status === "failed" || status === "cancelled"

export const allInstancesRunning = (deployment: DeploymentState): boolean =>
  deployment.instances.length >= deployment.replicas &&
  deployment.instances.every((instance) => instance.status === "RUNNING")

/** A failed or cancelled deployment whose Krane deployment and hostnames were not cleaned up yet. */
export const needsCompensation = (deployment: DeploymentState): boolean =>
  (deployment.status === "failed" || deployment.status === "cancelled") && !deployment.compensated

/** Hostnames that route to the deployment: what compensation releases. */
export const routesHeldBy = (state: ProjectState, deploymentId: string): ReadonlyArray<string> =>
  Object.entries(state.routes)
    .filter(([, route]) => route.deploymentId === deploymentId)
    .map(([hostname]) => hostname)
    .sort()

/** The step a deployment is waiting on, if any. */
export const currentStep = (deployment: DeploymentState): StepName | undefined => {
  if (isTerminal(deployment.status)) return undefined
  if (deployment.status === "pending" || deployment.status === "building") return "krane-create"
  if (!allInstancesRunning(deployment)) return "await-instances"
  if (deployment.spec === "pending") return "scrape-openapi"
  return "assign-domains"
}

const updateDeployment = (
  state: ProjectState,
  deploymentId: string,
  update: (deployment: DeploymentState) => DeploymentState
): ProjectState => {
  const deployment = state.deployments[deploymentId]
  if (deployment === undefined) return state
  return { ...state, deployments: { ...state.deployments, [deploymentId]: update(deployment) } }
}

export const evolve = (state: ProjectState, event: ProjectEvent): ProjectState => {
  switch (event.type) {
    case "ProjectCreated":
      return {
        ...state,
        project: {
          projectId: event.projectId,
          workspace: event.workspace,
          slug: event.slug,
          apexDomain: event.apexDomain,
          defaultBranch: event.defaultBranch,
          openApiPath: event.openApiPath,
          environments: event.environments
        }
      }
    case "DeploymentRequested":
      return {
        ...state,
        deploymentCount: state.deploymentCount + 1,
        deployments: {
          ...state.deployments,
          [event.deploymentId]: {
            id: event.deploymentId,
            environmentId: event.environmentId,
            order: state.deploymentCount + 1,
            source: event.source,
            git: event.git,
            replicas: event.replicas,
            port: event.port,
            cpuMillicores: event.cpuMillicores,
            memorySizeMib: event.memorySizeMib,
            env: event.env,
            status: "pending",
            instances: [],
            spec: "pending",
            domains: [],
            compensated: false
          }
        }
      }
    case "DeploymentBuilding":
      return updateDeployment(state, event.deploymentId, (d) => ({ ...d, status: "building" }))
    case "KraneDeploymentCreated":
      return updateDeployment(state, event.deploymentId, (d) => ({
        ...d,
        status: "deploying",
        kraneNamespace: event.namespace,
        readyDeadlineAt: event.readyDeadlineAt
      }))
    case "InstancesObserved":
      return updateDeployment(state, event.deploymentId, (d) => ({ ...d, instances: event.instances }))
    case "OpenApiSpecCaptured":
      return updateDeployment(state, event.deploymentId, (d) => ({ ...d, spec: "captured" }))
    case "OpenApiSpecNotFound":
      return updateDeployment(state, event.deploymentId, (d) => ({ ...d, spec: "not_found" }))
    case "DomainsAssigned": {
      const deployment = state.deployments[event.deploymentId]
      if (deployment === undefined) return state
      const routes = { ...state.routes }
      for (const domain of event.domains) {
        routes[domain.hostname] = {
          deploymentId: event.deploymentId,
          sticky: domain.sticky,
          environmentId: deployment.environmentId
        }
      }
      return updateDeployment({ ...state, routes }, event.deploymentId, (d) => ({ ...d, domains: event.domains }))
    }
    case "DeploymentReady":
      return updateDeployment(state, event.deploymentId, (d) => ({ ...d, status: "ready" }))
    case "LiveSwitched":
      return { ...state, liveDeploymentId: event.to, rolledBack: event.reason === "rollback" }
    case "DeploymentFailed":
      return updateDeployment(state, event.deploymentId, (d) => ({
        ...d,
        status: "failed",
        failure: { step: event.step, reason: event.reason }
      }))
    case "DomainsSwitched": {
      const routes = { ...state.routes }
      for (const domain of event.domains) {
        const previous = routes[domain.hostname]
        if (previous !== undefined) routes[domain.hostname] = { ...previous, deploymentId: event.toDeploymentId }
      }
      return { ...state, routes }
    }
    case "RollbackCleared":
      return { ...state, rolledBack: false }
    case "DeploymentCancelled":
      return updateDeployment(state, event.deploymentId, (d) => ({
        ...d,
        status: "cancelled",
        failure: { step: event.step, reason: "cancelled by user" }
      }))
    case "DeploymentCompensated": {
      const routes = { ...state.routes }
      for (const hostname of event.releasedDomains) delete routes[hostname]
      return updateDeployment({ ...state, routes }, event.deploymentId, (d) => ({ ...d, compensated: true }))
    }
    case "CommandRejected":
      return state
  }
}

/** Folds one decision's envelope, recording the command that caused it. */
export const evolveAll = (
  state: ProjectState,
  events: ReadonlyArray<ProjectEvent>,
  commandId: string | null
): ProjectState => {
  const folded = events.reduce(evolve, state)
  return commandId === null ? folded : { ...folded, handledCommands: { ...folded.handledCommands, [commandId]: true } }
}
