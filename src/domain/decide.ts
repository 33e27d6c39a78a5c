/**
 * The project decider, total: every message (a command, a command that could not be read, a step's
 * result) gets a Decision (decision.ts): the events to record, a rejection recorded as
 * CommandRejected, or first a route write or hostname claims whose outcome decides the rest.
 * Validation order and messages follow Unkey (spec 3.1); Rollback and Promote's rules: switches.ts.
 * Inputs that need I/O (a switch target's running instances) are named by `inputsFor` and fetched by
 * the actor before it decides.
 */
import { Either } from "effect"
import type { CancelDeployment, Command, CreateProject, Deploy, Promote, Rollback } from "./commands.js"
import { hostnamesToClaim, hostnameTakenMessage } from "./claims.js"
import { andThen, nothing as recordNothing, record, refuse, type Decision } from "./decision.js"
import { Rejection } from "./rejection.js"
import { tableOf } from "./routes.js"
import { assignDomainsOf, domainsWritten, kraneIdOf } from "./steps.js"
import { isProduction, planPromote, planRollback, switchEvents } from "./switches.js"
import {
  deploymentExists,
  deploymentNotFound,
  environmentNotFound,
  environmentsIssue,
  notCancellable,
  projectExists,
  projectNotFound
} from "./validation.js"
import type { EventOf, ProjectEvent } from "./events.js"
import { apexIssue } from "./apex.js"
import { limits } from "./limits.js"
import { environmentOf } from "./routes.js"
import {
  allInstancesRunning,
  currentStep,
  isTerminal,
  evolveAll,
  needsCompensation,
  routesHeldBy,
  wasHandled,
  type DeploymentState,
  type ProjectState
} from "./state.js"
import type { StepResult } from "./stepResults.js"

export { Rejection }

export interface DecideContext {
  /** Epoch ms of the decision. */
  readonly now: number
  readonly readinessTimeoutMs: number
  /** The apex domains a new project may use (BERTH_APEX_DOMAINS). */
  readonly apexDomains: ReadonlyArray<string>
}

/** Unkey's hard-coded runtime sizing (spec 3.2 step 6); Krane needs a figure even where ours ignores it. */
export const defaultSizing = { cpuMillicores: 512, memorySizeMib: 512, port: 8080, replicas: 1 } as const

/** A command whose header could be read but whose body is not valid (the intake says why). */
export interface InvalidCommand {
  readonly type: "InvalidCommand"
  readonly commandId: string
  readonly commandType: string
  readonly code: string
  readonly message: string
}

/** Results one step run reported together (src/actors/StepSupervisor.ts): one decision, one envelope. */
export interface StepResults {
  readonly type: "StepResults"
  readonly results: ReadonlyArray<StepResult>
}

export type Message = Command | InvalidCommand | StepResult | StepResults
export type { Decision }

export interface DecideInputs extends DecideContext {
  /** The switch target's instances RUNNING now (Rollback, Promote): see `inputsFor`. */
  readonly runningInstances?: number
}

/** An input `decide` needs that only I/O can give: the actor fetches it first. */
export interface RunningInstancesQuery {
  readonly kind: "running-instances"
  readonly deploymentId: string
  readonly namespace: string
  readonly kraneDeploymentId: string
  /** What the log recorded: the answer when Krane cannot say. */
  readonly recorded: number
}

/** The inputs `message` needs before it is decided (none for most). */
export const inputsFor = (state: ProjectState, message: Message): RunningInstancesQuery | undefined => {
  if (message.type !== "Rollback" && message.type !== "Promote") return undefined
  if (wasHandled(state, message.commandId)) return undefined
  const targetId = message.type === "Rollback" ? message.targetDeploymentId : message.deploymentId
  const target = state.deployments[targetId]
  // A missing project or an unknown target is rejected before the target's instances matter.
  const project = state.project
  if (project === null || target === undefined) return undefined
  return {
    kind: "running-instances",
    deploymentId: targetId,
    namespace: target.kraneNamespace ?? project.workspace,
    kraneDeploymentId: kraneIdOf(project.projectId, target),
    recorded: target.instances.filter((i) => i.status === "RUNNING").length
  }
}

/** The events of one message, or why it is refused (before effects and claims). */
type Verdict = Either.Either<ReadonlyArray<ProjectEvent>, Rejection>

const accept = (...events: ReadonlyArray<ProjectEvent>): Verdict => Either.right(events)
const none: ReadonlyArray<ProjectEvent> = []
const proven = (...events: ReadonlyArray<ProjectEvent>): ReadonlyArray<ProjectEvent> => events
const reject = (code: Rejection["code"], message: string): Verdict => Either.left(new Rejection({ code, message }))

const createProject = (state: ProjectState, command: CreateProject, context: DecideContext): Verdict => {
  if (state.project !== null) return Either.left(projectExists(command.projectId))
  const apex = apexIssue(command.apexDomain, context.apexDomains)
  if (apex !== undefined) return reject("invalid_input", apex)
  const environments = environmentsIssue(command.environments)
  if (environments !== undefined) return Either.left(environments)
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

const deploy = (state: ProjectState, command: Deploy): Verdict => {
  const project = state.project
  if (project === null) return Either.left(projectNotFound(command.projectId))
  if (state.deployments[command.deploymentId] !== undefined) return Either.left(deploymentExists(command.deploymentId))
  if (environmentOf(project, command.environmentId) === undefined) {
    return Either.left(environmentNotFound(command.environmentId, project.workspace))
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
const cancel = (state: ProjectState, command: CancelDeployment): Verdict => {
  if (state.project === null) return Either.left(projectNotFound(command.projectId))
  const deployment = state.deployments[command.deploymentId]
  if (deployment === undefined) return Either.left(deploymentNotFound(command.deploymentId))
  const step = currentStep(deployment)
  if (step === undefined) return Either.left(notCancellable(command.deploymentId, deployment.status))
  return accept({ type: "DeploymentCancelled", deploymentId: deployment.id, step, commandId: command.commandId })
}

const sameInstances = (a: DeploymentState["instances"], b: DeploymentState["instances"]): boolean =>
  a.length === b.length &&
  a.every((instance, i) => {
    const other = b[i]
    return other !== undefined && other.id === instance.id && other.address === instance.address && other.status === instance.status
  })

const goLive = (state: ProjectState, deployment: DeploymentState): ReadonlyArray<EventOf<"LiveSwitched">> => {
  // (A deployment finishing its domain assignment is never live yet: only a ready one can be made live.)
  if (!isProduction(state, deployment) || state.rolledBack) return []
  const live = Object.values(state.deployments).find((candidate) => candidate.id === state.liveDeploymentId)
  // The live pointer only moves forward: an older deployment finishing late does not replace a newer one.
  if (live !== undefined && live.order > deployment.order) return []
  return [{ type: "LiveSwitched", from: state.liveDeploymentId, to: deployment.id, reason: "deploy" }]
}

/** The events a step result proves: none when it is stale or a duplicate (a step result is never refused). */
const stepResult = (state: ProjectState, result: StepResult, context: DecideContext): ReadonlyArray<ProjectEvent> => {
  const deployment = state.deployments[result.deploymentId]
  if (deployment === undefined) return none
  if (result.type === "Compensated") {
    if (!needsCompensation(deployment)) return none
    return proven({
      type: "DeploymentCompensated",
      deploymentId: deployment.id,
      kraneDeleted: result.kraneDeleted,
      releasedDomains: result.releasedDomains,
      ...(result.problem === undefined ? {} : { problem: result.problem })
    })
  }
  if (isTerminal(deployment.status)) return none
  const id = deployment.id
  switch (result.type) {
    case "KraneCreated":
      if (deployment.status !== "building") return none
      return proven({
        type: "KraneDeploymentCreated",
        deploymentId: id,
        namespace: result.namespace,
        kraneDeploymentId: result.kraneDeploymentId,
        readyDeadlineAt: context.now + context.readinessTimeoutMs
      })
    case "InstancesPolled":
      if (deployment.status !== "deploying" || allInstancesRunning(deployment)) return none
      if (sameInstances(deployment.instances, result.instances)) return none
      return proven({ type: "InstancesObserved", deploymentId: id, instances: result.instances })
    case "ReadinessTimedOut": {
      if (deployment.status !== "deploying" || allInstancesRunning(deployment)) return none
      const running = deployment.instances.filter((instance) => instance.status === "RUNNING").length
      const seconds = Math.round(context.readinessTimeoutMs / 1000)
      return proven({
        type: "DeploymentFailed",
        deploymentId: id,
        step: "await-instances",
        reason: `deployment never became ready: ${running} of ${deployment.replicas} instances running after ${seconds}s`
      })
    }
    case "SpecCaptured":
      if (!allInstancesRunning(deployment) || deployment.spec !== "pending") return none
      return proven({
        type: "OpenApiSpecCaptured",
        deploymentId: id,
        path: result.path,
        objectName: result.objectName,
        sizeBytes: result.sizeBytes,
        sha256: result.sha256
      })
    case "SpecNotFound":
      if (!allInstancesRunning(deployment) || deployment.spec !== "pending") return none
      return proven({ type: "OpenApiSpecNotFound", deploymentId: id, path: result.path, reason: result.reason })
    case "RoutesWritten": {
      if (deployment.spec === "pending" || deployment.domains.length > 0) return none
      const assigned: EventOf<"DomainsAssigned"> = {
        type: "DomainsAssigned",
        deploymentId: id,
        domains: result.domains,
        withheld: result.withheld,
        routeRevision: result.routeRevision
      }
      return proven(assigned, { type: "DeploymentReady", deploymentId: id }, ...goLive(state, deployment))
    }
    case "StepFailed":
      // A failure report from a step the deployment has already moved past is stale.
      if (currentStep(deployment) !== result.step) return none
      return proven({ type: "DeploymentFailed", deploymentId: id, step: result.step, reason: result.reason })
  }
}

const verdict = (decision: Verdict, commandId: string, commandType: string): Decision =>
  Either.match(decision, {
    onLeft: (rejection) => refuse(commandId, commandType, rejection),
    onRight: record
  })

/**
 * Tenant isolation: the hostnames an accepted CreateProject or Deploy makes the project use are
 * claimed before the decision is recorded; one another project holds turns it into a rejection that
 * names the hostname only.
 */
const claimed = (state: ProjectState, command: CreateProject | Deploy, decision: Verdict): Decision => {
  if (Either.isLeft(decision)) return verdict(decision, command.commandId, command.type)
  // Never empty: a new project has its environments' hostnames, a new deployment its own.
  const hostnames = hostnamesToClaim(state, decision.right)
  return {
    _tag: "ClaimHostnames",
    hostnames,
    then: (taken) =>
      taken.length === 0
        ? record(decision.right)
        : refuse(command.commandId, command.type, { code: "hostname_taken", message: hostnameTakenMessage(taken) })
  }
}

/** Rollback and Promote: validate, move the sticky hostnames in one route write, then record. */
const switchLive = (state: ProjectState, command: Rollback | Promote, runningInstances: number): Decision => {
  const plan = command.type === "Rollback" ? planRollback(state, command, runningInstances) : planPromote(state, command, runningInstances)
  if (Either.isLeft(plan)) return refuse(command.commandId, command.type, plan.left)
  const move = plan.right
  if (move._tag === "Confirm") return record(switchEvents(move, 0))
  const moved = new Set(move.domains.map((d) => d.hostname))
  const routes = Object.fromEntries(
    Object.entries(state.routes).map(([hostname, route]) => [hostname, moved.has(hostname) ? { ...route, deploymentId: move.targetId } : route])
  )
  return {
    _tag: "WriteRoutes",
    table: tableOf(state, routes),
    then: (written) =>
      Either.match(written, {
        // One atomic write: when it fails nothing moved, so there is nothing to undo.
        onLeft: (reason) => refuse(command.commandId, command.type, { code: "routing_failed", message: `failed to switch domains: ${reason}` }),
        onRight: (revision) => record(switchEvents(move, revision))
      })
  }
}

/** Compensation's last part: release the hostnames the deployment alone held, then record. */
const compensated = (state: ProjectState, result: Extract<StepResult, { type: "Compensated" }>, context: DecideContext): Decision => {
  const deployment = state.deployments[result.deploymentId]
  const held = deployment !== undefined && needsCompensation(deployment) ? routesHeldBy(state, result.deploymentId) : []
  if (held.length === 0) return record(stepResult(state, result, context))
  const routes = Object.fromEntries(Object.entries(state.routes).filter(([hostname]) => !held.includes(hostname)))
  return {
    _tag: "WriteRoutes",
    table: tableOf(state, routes),
    then: (written) =>
      record(
        stepResult(
          state,
          Either.isRight(written)
            ? { ...result, releasedDomains: held }
            : { ...result, problem: `could not release ${held.join(", ")}: ${written.left}` },
          context
        )
      )
  }
}

/**
 * The scrape's result and the domain assignment it makes due, in one decision and one envelope: the
 * route write first, then [spec captured or not found, DomainsAssigned, DeploymentReady, LiveSwitched]
 * (or the failure of assign-domains). A crash between the write and the append leaves the spec
 * pending: the scrape runs again and the same table is written again (both idempotent).
 */
const specSettled = (state: ProjectState, result: Extract<StepResult, { type: "SpecCaptured" | "SpecNotFound" }>, context: DecideContext): Decision => {
  const settled = stepResult(state, result, context)
  if (settled.length === 0) return recordNothing
  // Settled, the spec leaves the deployment (deploying, every instance running) waiting on assign-domains.
  const after = evolveAll(state, settled, null)
  const step = assignDomainsOf(after, result.deploymentId)
  return {
    _tag: "WriteRoutes",
    table: step.table,
    then: (written) => record([...settled, ...stepResult(after, domainsWritten(step, written), context)])
  }
}

/**
 * Decides one message. A command already handled (same commandId) decides nothing, so a redelivered
 * command is not applied twice; a step result that no longer matches the state decides nothing.
 */
export const decide = (state: ProjectState, message: Message, inputs: DecideInputs): Decision => {
  switch (message.type) {
    case "InvalidCommand":
      if (wasHandled(state, message.commandId)) return recordNothing
      return refuse(message.commandId, message.commandType, message)
    case "CreateProject":
      if (wasHandled(state, message.commandId)) return recordNothing
      return claimed(state, message, createProject(state, message, inputs))
    case "Deploy":
      if (wasHandled(state, message.commandId)) return recordNothing
      return claimed(state, message, deploy(state, message))
    case "CancelDeployment":
      if (wasHandled(state, message.commandId)) return recordNothing
      return verdict(cancel(state, message), message.commandId, message.type)
    case "Rollback":
    case "Promote":
      if (wasHandled(state, message.commandId)) return recordNothing
      return switchLive(state, message, inputs.runningInstances ?? 0)
    case "Compensated":
      return compensated(state, message, inputs)
    case "SpecCaptured":
    case "SpecNotFound":
      return specSettled(state, message, inputs)
    case "StepResults":
      return decideAll(state, message.results, inputs)
    default:
      return record(stepResult(state, message, inputs))
  }
}

/**
 * Step results reported together (a run that carried on into the next steps:
 * src/actors/StepSupervisor.ts) as one decision and one envelope: each decided against the state the ones before it leave, their events in order. A
 * stale or duplicate result decides nothing, as it would alone.
 */
export const decideAll = (state: ProjectState, results: ReadonlyArray<StepResult>, inputs: DecideInputs): Decision => {
  const from = (state: ProjectState, i: number, before: ReadonlyArray<ProjectEvent>): Decision => {
    const result = results[i]
    if (result === undefined) return record(before)
    return andThen(decide(state, result, inputs), (events) =>
      events.length === 0
        ? from(state, i + 1, before)
        : i + 1 === results.length
          ? record([...before, ...events])
          : from(evolveAll(state, events, null), i + 1, [...before, ...events])
    )
  }
  const only = results.length === 1 ? results[0] : undefined
  return only === undefined ? from(state, 0, []) : decide(state, only, inputs)
}
