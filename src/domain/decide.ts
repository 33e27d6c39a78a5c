/**
 * The project decider: given the state and one message (a command or a step's result), the events
 * it makes, or the reason it is rejected. Validation order and messages follow Unkey (spec 3.1).
 */
import { Data, Either } from "effect"
import type { CancelDeployment, Command, CreateProject, Deploy, Promote, Rollback } from "./commands.js"
import type { EventOf, ProjectEvent } from "./events.js"
import { apexIssue } from "./apex.js"
import { limits } from "./limits.js"
import { environmentOf } from "./routes.js"
import {
  allInstancesRunning,
  currentStep,
  isTerminal,
  needsCompensation,
  wasHandled,
  type DeploymentState,
  type ProjectState
} from "./state.js"
import type { StepResult } from "./stepResults.js"

export class Rejection extends Data.TaggedError("Rejection")<{
  readonly code:
    | "project_exists"
    | "project_not_found"
    | "environment_not_found"
    | "deployment_exists"
    | "deployment_not_found"
    | "precondition_failed"
    | "routing_failed"
    | "invalid_input"
    | "hostname_taken"
  readonly message: string
}> {}

export interface DecideContext {
  /** Epoch ms of the decision. */
  readonly now: number
  readonly readinessTimeoutMs: number
  /** The apex domains a new project may use (BERTH_APEX_DOMAINS). */
  readonly apexDomains: ReadonlyArray<string>
}

/** Unkey's hard-coded runtime sizing (spec 3.2 step 6); Krane needs a figure even where ours ignores it. */
export const defaultSizing = { cpuMillicores: 512, memorySizeMib: 512, port: 8080, replicas: 1 } as const

/** Rollback and Promote need a route write between validation and events: see switches.ts. */
export type Message = Exclude<Command, Rollback | Promote> | StepResult
export type Decision = Either.Either<ReadonlyArray<ProjectEvent>, Rejection>

const accept = (...events: ReadonlyArray<ProjectEvent>): Decision => Either.right(events)
const nothing: Decision = Either.right([])
const reject = (code: Rejection["code"], message: string): Decision => Either.left(new Rejection({ code, message }))

const duplicates = (values: ReadonlyArray<string>): ReadonlyArray<string> => [
  ...new Set(values.filter((value, index) => values.indexOf(value) !== index))
]

const createProject = (state: ProjectState, command: CreateProject, context: DecideContext): Decision => {
  if (state.project !== null) return reject("project_exists", `project already exists: ${command.projectId}`)
  const apex = apexIssue(command.apexDomain, context.apexDomains)
  if (apex !== undefined) return reject("invalid_input", apex)
  const duplicateIds = duplicates(command.environments.map((e) => e.id))
  if (duplicateIds.length > 0) return reject("invalid_input", `duplicate environment id: ${duplicateIds.join(", ")}`)
  const duplicateSlugs = duplicates(command.environments.map((e) => e.slug))
  if (duplicateSlugs.length > 0) return reject("invalid_input", `duplicate environment slug: ${duplicateSlugs.join(", ")}`)
  // One live pointer and one live hostname per project: two production environments would fight over both.
  if (command.environments.filter((e) => e.kind === "production").length > 1) {
    return reject("invalid_input", "a project has at most one production environment")
  }
  return accept({
    type: "ProjectCreated",
    projectId: command.projectId,
    workspace: command.workspace,
    slug: command.slug,
    apexDomain: command.apexDomain,
    defaultBranch: command.defaultBranch ?? "main",
    ...(command.openApiPath === undefined ? {} : { openApiPath: command.openApiPath }),
    environments: command.environments
  })
}

const deploy = (state: ProjectState, command: Deploy): Decision => {
  const project = state.project
  if (project === null) return reject("project_not_found", `project not found: ${command.projectId}`)
  if (state.deployments[command.deploymentId] !== undefined) {
    return reject("deployment_exists", `deployment already exists: ${command.deploymentId}`)
  }
  if (environmentOf(project, command.environmentId) === undefined) {
    return reject(
      "environment_not_found",
      `environment '${command.environmentId}' not found in workspace '${project.workspace}'`
    )
  }
  if (command.source === undefined) {
    return reject("invalid_input", "source must be specified (either image or command)")
  }
  // Unkey always records a branch: the request's, else the project's default (spec 3.1 step 3).
  const git =
    command.git === undefined
      ? undefined
      : {
          sha: command.git.sha,
          branch: command.git.branch ?? project.defaultBranch,
          ...(command.git.message === undefined ? {} : { message: command.git.message.slice(0, limits.gitMessageChars) })
        }
  return accept(
    {
      type: "DeploymentRequested",
      deploymentId: command.deploymentId,
      environmentId: command.environmentId,
      source: command.source,
      ...(git === undefined ? {} : { git }),
      replicas: command.replicas ?? defaultSizing.replicas,
      port: command.port ?? defaultSizing.port,
      cpuMillicores: defaultSizing.cpuMillicores,
      memorySizeMib: defaultSizing.memorySizeMib,
      env: command.env ?? {}
    },
    // Sources are images or commands: there is nothing to build, so building starts (and ends) at once.
    { type: "DeploymentBuilding", deploymentId: command.deploymentId }
  )
}

/** Unkey marks an in-progress deployment cancelled and lets compensation clean up (spec 5.1). */
const cancel = (state: ProjectState, command: CancelDeployment): Decision => {
  if (state.project === null) return reject("project_not_found", `project not found: ${command.projectId}`)
  const deployment = state.deployments[command.deploymentId]
  if (deployment === undefined) return reject("deployment_not_found", `deployment not found: ${command.deploymentId}`)
  const step = currentStep(deployment)
  if (step === undefined) {
    return reject(
      "precondition_failed",
      `deployment ${command.deploymentId} is already ${deployment.status}: only a deployment in progress can be cancelled`
    )
  }
  return accept({ type: "DeploymentCancelled", deploymentId: deployment.id, step, commandId: command.commandId })
}

const sameInstances = (a: DeploymentState["instances"], b: DeploymentState["instances"]): boolean =>
  a.length === b.length &&
  a.every((instance, i) => {
    const other = b[i]
    return other !== undefined && other.id === instance.id && other.address === instance.address && other.status === instance.status
  })

const goLive = (state: ProjectState, deployment: DeploymentState): ReadonlyArray<EventOf<"LiveSwitched">> => {
  const project = state.project
  if (project === null || environmentOf(project, deployment.environmentId)?.kind !== "production") return []
  if (state.rolledBack || state.liveDeploymentId === deployment.id) return []
  const live = state.liveDeploymentId === null ? undefined : state.deployments[state.liveDeploymentId]
  // The live pointer only moves forward: an older deployment finishing late does not replace a newer one.
  if (live !== undefined && live.order > deployment.order) return []
  return [{ type: "LiveSwitched", from: state.liveDeploymentId, to: deployment.id, reason: "deploy" }]
}

const stepResult = (state: ProjectState, result: StepResult, context: DecideContext): Decision => {
  const deployment = state.deployments[result.deploymentId]
  if (deployment === undefined) return nothing
  if (result.type === "Compensated") {
    if (!needsCompensation(deployment)) return nothing
    return accept({
      type: "DeploymentCompensated",
      deploymentId: deployment.id,
      kraneDeleted: result.kraneDeleted,
      releasedDomains: result.releasedDomains,
      ...(result.problem === undefined ? {} : { problem: result.problem })
    })
  }
  if (isTerminal(deployment.status)) return nothing
  const id = deployment.id
  switch (result.type) {
    case "KraneCreated":
      if (deployment.status !== "building") return nothing
      return accept({
        type: "KraneDeploymentCreated",
        deploymentId: id,
        namespace: result.namespace,
        kraneDeploymentId: result.kraneDeploymentId,
        readyDeadlineAt: context.now + context.readinessTimeoutMs
      })
    case "InstancesPolled":
      if (deployment.status !== "deploying" || allInstancesRunning(deployment)) return nothing
      if (sameInstances(deployment.instances, result.instances)) return nothing
      return accept({ type: "InstancesObserved", deploymentId: id, instances: result.instances })
    case "ReadinessTimedOut": {
      if (deployment.status !== "deploying" || allInstancesRunning(deployment)) return nothing
      const running = deployment.instances.filter((instance) => instance.status === "RUNNING").length
      const seconds = Math.round(context.readinessTimeoutMs / 1000)
      return accept({
        type: "DeploymentFailed",
        deploymentId: id,
        step: "await-instances",
        reason: `deployment never became ready: ${running} of ${deployment.replicas} instances running after ${seconds}s`
      })
    }
    case "SpecCaptured":
      if (!allInstancesRunning(deployment) || deployment.spec !== "pending") return nothing
      return accept({
        type: "OpenApiSpecCaptured",
        deploymentId: id,
        path: result.path,
        objectName: result.objectName,
        sizeBytes: result.sizeBytes,
        sha256: result.sha256
      })
    case "SpecNotFound":
      if (!allInstancesRunning(deployment) || deployment.spec !== "pending") return nothing
      return accept({ type: "OpenApiSpecNotFound", deploymentId: id, path: result.path, reason: result.reason })
    case "RoutesWritten": {
      if (deployment.spec === "pending" || deployment.domains.length > 0) return nothing
      const assigned: EventOf<"DomainsAssigned"> = {
        type: "DomainsAssigned",
        deploymentId: id,
        domains: result.domains,
        withheld: result.withheld,
        routeRevision: result.routeRevision
      }
      return accept(assigned, { type: "DeploymentReady", deploymentId: id }, ...goLive(state, deployment))
    }
    case "StepFailed":
      // A failure report from a step the deployment has already moved past is stale.
      if (currentStep(deployment) !== result.step) return nothing
      return accept({ type: "DeploymentFailed", deploymentId: id, step: result.step, reason: result.reason })
  }
}

/**
 * Decides one message. A command already handled (same commandId) decides nothing, so a redelivered
 * command is not applied twice; a step result that no longer matches the state decides nothing.
 */
export const decide = (state: ProjectState, message: Message, context: DecideContext): Decision => {
  switch (message.type) {
    case "CreateProject":
    case "Deploy":
    case "CancelDeployment":
      if (wasHandled(state, message.commandId)) return nothing
      return message.type === "CreateProject"
        ? createProject(state, message, context)
        : message.type === "Deploy"
          ? deploy(state, message)
          : cancel(state, message)
    default:
      return stepResult(state, message, context)
  }
}
