/**
 * A project's state: the fold of its events. Plain data (serialisable for snapshots).
 * It is the *hot* state: finished deployments leave it at snapshot time (see retirement.ts), so its
 * size follows the project's recent activity, not its age.
 */
import type { DeploySource, EnvironmentSpec, GitInfo } from "./commands.js"
import type { DomainAssignment, Instance, ProjectEvent, StepName, StickyKind } from "./events.js"
import { cancelledByUser, instancesReady, waitingOn } from "./timeline.js"

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
  /** The id Krane knows it by (kraneIds.ts); absent for deployments created before ids were keyed by project. */
  readonly kraneDeploymentId?: string | undefined
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
  /**
   * The ids of the last `handledWindow` commands decided (applied or rejected), oldest first: a
   * redelivered command is recognised here. A window, not every id ever: redeliveries (the intake's
   * ack wait) and client retries come within minutes, not hundreds of commands later, and publishers
   * that set Nats-Msg-Id are also deduplicated by BERTH_COMMANDS' duplicate window. Keeping every id
   * made the state grow with the project's age.
   */
  readonly handledCommands: ReadonlyArray<string>
  /** What left the hot state for the archive (retirement.ts). */
  readonly retired: RetiredIndex
}

export interface RetiredIndex {
  /**
   * The 32-bit FNV-1a hashes of the ids of retired deployments, each as 7 base-36 digits
   * (`stableHash`), sorted and concatenated: one string, the cheapest thing to parse. A miss proves an
   * id was never retired; a hit means "look in the archive" (a collision is possible, and harmless).
   */
  readonly digest: string
  /** The version of the retired route table this state relies on (0: none yet). */
  readonly routesAsOf: number
}

/** How many command ids `handledCommands` remembers. */
export const handledWindow = 256

export const initialState: ProjectState = {
  project: null,
  deployments: {},
  deploymentCount: 0,
  liveDeploymentId: null,
  rolledBack: false,
  routes: {},
  handledCommands: [],
  retired: { digest: "", routesAsOf: 0 }
}

/** Whether the command was decided recently (see `handledCommands`). */
export const wasHandled = (state: ProjectState, commandId: string): boolean => state.handledCommands.includes(commandId)

export const isTerminal = (status: DeploymentStatus): boolean =>
  status === "ready" || status === "failed" || status === "cancelled"

export const allInstancesRunning = (deployment: DeploymentState): boolean =>
  instancesReady(deployment.replicas, deployment.instances)

/** A failed or cancelled deployment whose Krane deployment and hostnames were not cleaned up yet. */
export const needsCompensation = (deployment: DeploymentState): boolean =>
  (deployment.status === "failed" || deployment.status === "cancelled") && !deployment.compensated

/** Hostnames that route to the deployment: what compensation releases. */
export const routesHeldBy = (state: ProjectState, deploymentId: string): ReadonlyArray<string> =>
  Object.entries(state.routes)
    .filter(([, route]) => route.deploymentId === deploymentId)
    .map(([hostname]) => hostname)
    .sort()

/** The step a deployment is waiting on, if any (timeline.ts). */
export const currentStep = (deployment: DeploymentState): StepName | undefined =>
  waitingOn({ status: deployment.status, instancesReady: allInstancesRunning(deployment), specPending: deployment.spec === "pending" })

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * Copy-on-write over one state, for folding: the top level is copied once, `deployments`, `routes`
 * and the command window at their first change, and then changed in place. So folding n events costs
 * n plus the state's size once, not the state's size per event (which made a replay without a
 * snapshot quadratic). The state given is never changed; `done` returns the new one.
 */
class Draft {
  private readonly state: Mutable<ProjectState>
  private deploymentsCopied = false
  private routesCopied = false
  private commands: Array<string> | undefined
  private commandSet: Set<string> | undefined

  constructor(base: ProjectState) {
    this.state = { ...base }
  }

  get current(): ProjectState {
    return this.state
  }

  set<K extends keyof ProjectState>(key: K, value: ProjectState[K]): void {
    this.state[key] = value
  }

  deployments(): Record<string, DeploymentState> {
    if (!this.deploymentsCopied) {
      this.state.deployments = { ...this.state.deployments }
      this.deploymentsCopied = true
    }
    return this.state.deployments as Record<string, DeploymentState>
  }

  routes(): Record<string, RouteEntry> {
    if (!this.routesCopied) {
      this.state.routes = { ...this.state.routes }
      this.routesCopied = true
    }
    return this.state.routes as Record<string, RouteEntry>
  }

  updateDeployment(deploymentId: string, update: (deployment: DeploymentState) => DeploymentState): void {
    const deployment = this.state.deployments[deploymentId]
    if (deployment !== undefined) this.deployments()[deploymentId] = update(deployment)
  }

  /**
   * Records a handled command: the window keeps the last `handledWindow`, oldest first. The set is
   * built only when one fold records a second command (a replay): one decision's fold records one.
   */
  handled(commandId: string): void {
    if (this.commands === undefined) {
      if (this.state.handledCommands.includes(commandId)) return
      this.commands = [...this.state.handledCommands, commandId]
      if (this.commands.length > handledWindow) this.commands.shift()
      return
    }
    if (this.commandSet === undefined) this.commandSet = new Set(this.commands)
    if (this.commandSet.has(commandId)) return
    this.commands.push(commandId)
    this.commandSet.add(commandId)
    if (this.commands.length > handledWindow) this.commandSet.delete(this.commands.shift() as string)
  }

  done(): ProjectState {
    if (this.commands !== undefined) this.state.handledCommands = this.commands
    return this.state
  }
}

const apply = (draft: Draft, event: ProjectEvent): void => {
  // The draft's own (mutable) state: read what an event needs before changing it.
  const state = draft.current
  switch (event.type) {
    case "ProjectCreated":
      draft.set("project", {
        projectId: event.projectId,
        workspace: event.workspace,
        slug: event.slug,
        apexDomain: event.apexDomain,
        defaultBranch: event.defaultBranch,
        openApiPath: event.openApiPath,
        environments: event.environments
      })
      return
    case "DeploymentRequested": {
      const order = state.deploymentCount + 1
      draft.set("deploymentCount", order)
      draft.deployments()[event.deploymentId] = {
        id: event.deploymentId,
        environmentId: event.environmentId,
        order,
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
      return
    }
    case "DeploymentBuilding":
      return draft.updateDeployment(event.deploymentId, (d) => ({ ...d, status: "building" }))
    case "KraneDeploymentCreated":
      return draft.updateDeployment(event.deploymentId, (d) => ({
        ...d,
        status: "deploying",
        kraneNamespace: event.namespace,
        ...(event.kraneDeploymentId === undefined ? {} : { kraneDeploymentId: event.kraneDeploymentId }),
        readyDeadlineAt: event.readyDeadlineAt
      }))
    case "InstancesObserved":
      return draft.updateDeployment(event.deploymentId, (d) => ({ ...d, instances: event.instances }))
    case "OpenApiSpecCaptured":
      return draft.updateDeployment(event.deploymentId, (d) => ({ ...d, spec: "captured" }))
    case "OpenApiSpecNotFound":
      return draft.updateDeployment(event.deploymentId, (d) => ({ ...d, spec: "not_found" }))
    case "DomainsAssigned": {
      const deployment = state.deployments[event.deploymentId]
      if (deployment === undefined) return
      const routes = draft.routes()
      for (const domain of event.domains) {
        routes[domain.hostname] = {
          deploymentId: event.deploymentId,
          sticky: domain.sticky,
          environmentId: deployment.environmentId
        }
      }
      return draft.updateDeployment(event.deploymentId, (d) => ({ ...d, domains: event.domains }))
    }
    case "DeploymentReady":
      return draft.updateDeployment(event.deploymentId, (d) => ({ ...d, status: "ready" }))
    case "LiveSwitched":
      draft.set("liveDeploymentId", event.to)
      draft.set("rolledBack", event.reason === "rollback")
      return
    case "DeploymentFailed":
      return draft.updateDeployment(event.deploymentId, (d) => ({
        ...d,
        status: "failed",
        failure: { step: event.step, reason: event.reason }
      }))
    case "DomainsSwitched": {
      const routes = draft.routes()
      for (const domain of event.domains) {
        const previous = routes[domain.hostname]
        if (previous !== undefined) routes[domain.hostname] = { ...previous, deploymentId: event.toDeploymentId }
      }
      return
    }
    case "RollbackCleared":
      draft.set("rolledBack", false)
      return
    case "DeploymentCancelled":
      return draft.updateDeployment(event.deploymentId, (d) => ({
        ...d,
        status: "cancelled",
        failure: { step: event.step, reason: cancelledByUser }
      }))
    case "DeploymentCompensated": {
      if (event.releasedDomains.length > 0) {
        const routes = draft.routes()
        for (const hostname of event.releasedDomains) delete routes[hostname]
      }
      return draft.updateDeployment(event.deploymentId, (d) => ({ ...d, compensated: true }))
    }
    case "CommandRejected":
      return
  }
}

export const evolve = (state: ProjectState, event: ProjectEvent): ProjectState => {
  const draft = new Draft(state)
  apply(draft, event)
  return draft.done()
}

/** One decision's events, and the command that caused them (null for a step result). */
export interface Folded {
  readonly events: ReadonlyArray<ProjectEvent>
  readonly commandId: string | null
}

/** Folds envelopes in order, recording the commands that caused them (the oldest ids drop out). */
export const evolveEnvelopes = (state: ProjectState, envelopes: Iterable<Folded>): ProjectState => {
  const draft = new Draft(state)
  for (const envelope of envelopes) {
    for (const event of envelope.events) apply(draft, event)
    if (envelope.commandId !== null) draft.handled(envelope.commandId)
  }
  return draft.done()
}

/** Folds one decision's envelope, recording the command that caused it (the oldest id drops out). */
export const evolveAll = (
  state: ProjectState,
  events: ReadonlyArray<ProjectEvent>,
  commandId: string | null
): ProjectState => evolveEnvelopes(state, [{ events, commandId }])
