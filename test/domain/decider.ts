/**
 * Decider-style test helper and fixtures for the pure domain:
 *
 *     given([projectCreated, ...deploymentAt("dep_1", "deploying")])
 *       .when({ type: "KraneCreated", deploymentId: "dep_1", namespace: "acme", kraneDeploymentId: "proj_1--dep_1" })
 *       .then([])
 *
 * `given` folds `evolveAll` over the history (an entry made with `handled(commandId, ...events)` also
 * records its commandId as handled, like the actor does for one decision), then `when` calls `decide`.
 * Assertions compare a plain outcome, `{ events }` or `{ rejected: { code, message } }`, so a failure
 * prints the actual event list or rejection.
 */
import { Either } from "effect"
import { expect } from "vitest"
import type { CreateProject, Deploy, DeploySource, EnvironmentSpec, GitInfo } from "../../src/domain/commands.js"
import { decide, type DecideContext, type Decision, type Message, type Rejection } from "../../src/domain/decide.js"
import type { DomainAssignment, EventOf, Instance, ProjectEvent, StepName } from "../../src/domain/events.js"
import { evolveAll, initialState, routesHeldBy, type ProjectState } from "../../src/domain/state.js"
import type { StepResult } from "../../src/domain/stepResults.js"
import { nextSteps, type Step } from "../../src/domain/steps.js"

// ---------------------------------------------------------------------------------------------------
// given / when / then

/** The events of one decision, caused by `commandId` (null for a step result). */
export interface Envelope {
  readonly commandId: string | null
  readonly events: ReadonlyArray<ProjectEvent>
}

export type History = ReadonlyArray<ProjectEvent | Envelope>

export const handled = (commandId: string | null, ...events: ReadonlyArray<ProjectEvent>): Envelope => ({
  commandId,
  events
})

const isEnvelope = (entry: ProjectEvent | Envelope): entry is Envelope => "events" in entry

export const stateOf = (history: History, start: ProjectState = initialState): ProjectState =>
  history.reduce<ProjectState>(
    (state, entry) =>
      isEnvelope(entry) ? evolveAll(state, entry.events, entry.commandId) : evolveAll(state, [entry], null),
    start
  )

export type Outcome =
  | { readonly events: ReadonlyArray<ProjectEvent> }
  | { readonly rejected: { readonly code: Rejection["code"]; readonly message: string } }

export const accepted = (...events: ReadonlyArray<ProjectEvent>): Outcome => ({ events })
export const rejected = (code: Rejection["code"], message: string): Outcome => ({ rejected: { code, message } })

/**
 * Carries out a decision's effects as the actor would, all succeeding unless told: a route write gets
 * revision = the table's number of routes (or fails with `routesFail`), no hostname is taken by
 * another project unless `taken` says so.
 */
export const settle = (
  decision: Decision,
  options: { readonly routesFail?: string; readonly taken?: ReadonlyArray<string> } = {}
): Extract<Decision, { _tag: "Record" }> => {
  switch (decision._tag) {
    case "Record":
      return decision
    case "WriteRoutes":
      return settle(
        decision.then(options.routesFail === undefined ? Either.right(Object.keys(decision.table.routes).length) : Either.left(options.routesFail)),
        options
      )
    case "ClaimHostnames":
      return settle(decision.then((options.taken ?? []).filter((hostname) => decision.hostnames.includes(hostname))), options)
  }
}

/** The events of an accepted decision (effects succeeding); a rejection fails the test. */
export const eventsOf = (decision: Decision): ReadonlyArray<ProjectEvent> => {
  const settled = settle(decision)
  if (settled.rejection !== undefined) throw new Error(`rejected: ${settled.rejection.message}`)
  return settled.events
}

export const outcomeOf = (decision: Decision): Outcome => {
  const settled = settle(decision)
  return settled.rejection === undefined
    ? { events: settled.events }
    : rejected(settled.rejection.code as Rejection["code"], settled.rejection.message)
}

/** Epoch ms of every decision in these tests unless a case says otherwise. */
export const now = 1_700_000_000_000
export const readinessTimeoutMs = 300_000
/** The apex domains the tables use are allowed; any other is not. */
export const apexDomains: ReadonlyArray<string> = ["berth.localhost", "localhost", "berth.test", "example.com"]
export const context: DecideContext = { now, readinessTimeoutMs, apexDomains }
export const deadline = now + readinessTimeoutMs

export interface When {
  readonly state: ProjectState
  readonly outcome: Outcome
  readonly then: (events: ReadonlyArray<ProjectEvent>) => void
  readonly thenNothing: () => void
  readonly thenRejected: (code: Rejection["code"], message: string) => void
  readonly thenOutcome: (expected: Outcome) => void
}

export const given = (history: History, start: ProjectState = initialState) => ({
  state: stateOf(history, start),
  when(message: Message, decideContext: DecideContext = context): When {
    const state = stateOf(history, start)
    const outcome = outcomeOf(decide(state, message, decideContext))
    const thenOutcome = (expected: Outcome) =>
      expect(outcome, `when ${message.type}: actual ${JSON.stringify(outcome, null, 2)}`).toStrictEqual(expected)
    return {
      state,
      outcome,
      thenOutcome,
      then: (events) => thenOutcome(accepted(...events)),
      thenNothing: () => thenOutcome(accepted()),
      thenRejected: (code, text) => thenOutcome(rejected(code, text))
    }
  }
})

// ---------------------------------------------------------------------------------------------------
// Fixtures: a project "shop" in workspace "acme" with a production and a preview environment.

export const projectId = "proj_1"
export const workspace = "acme"
export const apexDomain = "berth.localhost"
export const production: EnvironmentSpec = { id: "env_prod", slug: "production", kind: "production" }
export const preview: EnvironmentSpec = { id: "env_preview", slug: "preview", kind: "preview" }
export const image: DeploySource = { image: "ghcr.io/acme/shop:1" }

export const createProject = (overrides: Partial<CreateProject> = {}): CreateProject => ({
  type: "CreateProject",
  commandId: "cmd_create",
  projectId,
  workspace,
  slug: "shop",
  apexDomain,
  environments: [production, preview],
  ...overrides
})

export const projectCreated: EventOf<"ProjectCreated"> = {
  type: "ProjectCreated",
  projectId,
  workspace,
  slug: "shop",
  apexDomain,
  defaultBranch: "main",
  environments: [production, preview]
}

/** A Deploy of `ghcr.io/acme/shop:1` to production; its commandId is `cmd_<deploymentId>`. */
export const deploy = (overrides: Partial<Deploy> = {}): Deploy => {
  const deploymentId = overrides.deploymentId ?? "dep_1"
  return {
    type: "Deploy",
    commandId: `cmd_${deploymentId}`,
    projectId,
    deploymentId,
    environmentId: production.id,
    source: image,
    ...overrides
  }
}

export const deployWithoutSource = (deploymentId = "dep_1"): Deploy => ({
  type: "Deploy",
  commandId: `cmd_${deploymentId}`,
  projectId,
  deploymentId,
  environmentId: production.id
})

export interface DeploymentOptions {
  readonly environmentId?: string
  readonly replicas?: number
  readonly git?: GitInfo
}

export const requested = (deploymentId: string, options: DeploymentOptions = {}): EventOf<"DeploymentRequested"> => ({
  type: "DeploymentRequested",
  deploymentId,
  environmentId: options.environmentId ?? production.id,
  source: image,
  ...(options.git === undefined ? {} : { git: options.git }),
  replicas: options.replicas ?? 1,
  port: 8080,
  cpuMillicores: 512,
  memorySizeMib: 512,
  env: {}
})

export const building = (deploymentId: string): EventOf<"DeploymentBuilding"> => ({
  type: "DeploymentBuilding",
  deploymentId
})

export const kraneCreated = (
  deploymentId: string,
  readyDeadlineAt: number = deadline,
  namespace: string = workspace
): EventOf<"KraneDeploymentCreated"> => ({
  type: "KraneDeploymentCreated",
  deploymentId,
  namespace,
  kraneDeploymentId: `${projectId}--${deploymentId}`,
  readyDeadlineAt
})

export const instance = (n: number, status: Instance["status"] = "RUNNING"): Instance => ({
  id: `i-${n}`,
  address: `10.0.0.${n}:8080`,
  status
})

export const observed = (deploymentId: string, ...instances: ReadonlyArray<Instance>): EventOf<"InstancesObserved"> => ({
  type: "InstancesObserved",
  deploymentId,
  instances
})

export const specCaptured = (deploymentId: string): EventOf<"OpenApiSpecCaptured"> => ({
  type: "OpenApiSpecCaptured",
  deploymentId,
  path: "/openapi.json",
  objectName: `${projectId}/${deploymentId}`,
  sizeBytes: 1234,
  sha256: "ab".repeat(32)
})

export const specNotFound = (deploymentId: string): EventOf<"OpenApiSpecNotFound"> => ({
  type: "OpenApiSpecNotFound",
  deploymentId,
  path: "/openapi.json",
  reason: "HTTP 404"
})

/** The hostnames of a deployment without git info; ids must be lowercase (`dep_1` -> `dep-1`). */
export const standardDomains = (
  deploymentId: string,
  environmentId: string = production.id
): ReadonlyArray<DomainAssignment> => {
  const label = deploymentId.replace(/_/g, "-")
  const perDeployment: DomainAssignment = { hostname: `shop-${label}-acme.${apexDomain}`, sticky: "deployment" }
  return environmentId === production.id
    ? [
        { hostname: `shop-production-acme.${apexDomain}`, sticky: "environment" },
        { hostname: `shop-acme.${apexDomain}`, sticky: "live" },
        perDeployment
      ]
    : [{ hostname: `shop-preview-acme.${apexDomain}`, sticky: "environment" }, perDeployment]
}

export const domainsAssigned = (
  deploymentId: string,
  domains: ReadonlyArray<DomainAssignment>,
  withheld: ReadonlyArray<DomainAssignment> = [],
  routeRevision = 1
): EventOf<"DomainsAssigned"> => ({ type: "DomainsAssigned", deploymentId, domains, withheld, routeRevision })

export const deploymentReady = (deploymentId: string): EventOf<"DeploymentReady"> => ({
  type: "DeploymentReady",
  deploymentId
})

export const liveSwitched = (
  from: string | null,
  to: string,
  reason: EventOf<"LiveSwitched">["reason"] = "deploy"
): EventOf<"LiveSwitched"> => ({ type: "LiveSwitched", from, to, reason })

export const deploymentFailed = (deploymentId: string, step: StepName, reason: string): EventOf<"DeploymentFailed"> => ({
  type: "DeploymentFailed",
  deploymentId,
  step,
  reason
})

/**
 * The stages of a deployment, each as the events recorded up to it:
 * - building: requested (a Deploy records DeploymentRequested and DeploymentBuilding together);
 * - deploying: Krane created it, no instances observed yet;
 * - running: all `replicas` instances observed RUNNING, spec not scraped yet;
 * - spec-captured / spec-not-found: the scrape's outcome is recorded;
 * - ready: domains assigned (standardDomains) and ready. No LiveSwitched: add it where the case needs it;
 * - failed: Krane creation failed.
 */
export type Stage = "building" | "deploying" | "running" | "spec-captured" | "spec-not-found" | "ready" | "failed"

export const deploymentAt = (deploymentId: string, stage: Stage, options: DeploymentOptions = {}): Array<ProjectEvent> => {
  const start: Array<ProjectEvent> = [requested(deploymentId, options), building(deploymentId)]
  if (stage === "building") return start
  if (stage === "failed") return [...start, deploymentFailed(deploymentId, "krane-create", "krane unavailable")]
  const deploying = [...start, kraneCreated(deploymentId)]
  if (stage === "deploying") return deploying
  const replicas = options.replicas ?? 1
  const running = [
    ...deploying,
    observed(deploymentId, ...Array.from({ length: replicas }, (_, i) => instance(i + 1)))
  ]
  if (stage === "running") return running
  if (stage === "spec-not-found") return [...running, specNotFound(deploymentId)]
  const captured = [...running, specCaptured(deploymentId)]
  if (stage === "spec-captured") return captured
  return [
    ...captured,
    domainsAssigned(deploymentId, standardDomains(deploymentId, options.environmentId ?? production.id)),
    deploymentReady(deploymentId)
  ]
}

// ---------------------------------------------------------------------------------------------------
// A simulated actor: decide, fold, and perform the steps that nextSteps asks for (all succeeding).

const commandIdOf = (message: Message): string | null =>
  message.type === "CreateProject" || message.type === "Deploy" || message.type === "CancelDeployment"
    ? message.commandId
    : null

/** Decides `message` and folds its events; a rejection fails the test. */
export const record = (state: ProjectState, message: Message, decideContext: DecideContext = context): ProjectState => {
  const settled = settle(decide(state, message, decideContext))
  if (settled.rejection !== undefined) throw new Error(`${message.type} rejected: ${settled.rejection.message}`)
  return evolveAll(state, settled.events, commandIdOf(message))
}

/** What a successful run of `step` reports: every instance RUNNING at once, no OpenAPI document. */
export const successOf = (state: ProjectState, step: Step): StepResult => {
  switch (step.kind) {
    case "krane-create":
      return { type: "KraneCreated", deploymentId: step.deploymentId, namespace: step.namespace, kraneDeploymentId: step.kraneDeploymentId }
    case "await-instances": {
      const replicas = state.deployments[step.deploymentId]?.replicas ?? 1
      const instances = Array.from({ length: replicas }, (_, i) => instance(i + 1))
      return { type: "InstancesPolled", deploymentId: step.deploymentId, instances }
    }
    case "scrape-openapi":
      return { type: "SpecNotFound", deploymentId: step.deploymentId, path: step.path ?? "/openapi.json", reason: "HTTP 404" }
    case "assign-domains":
      return {
        type: "RoutesWritten",
        deploymentId: step.deploymentId,
        domains: step.assign,
        withheld: step.withheld,
        routeRevision: Object.keys(step.table.routes).length
      }
    case "compensate": {
      const releasedDomains = routesHeldBy(state, step.deploymentId)
      return { type: "Compensated", deploymentId: step.deploymentId, kraneDeleted: true, releasedDomains }
    }
  }
}

/** Runs the due steps of one deployment until it has none left (it is ready, or compensated). */
export const finish = (state: ProjectState, deploymentId: string): ProjectState => {
  let current = state
  for (let i = 0; i < 10; i++) {
    const step = nextSteps(current).find((candidate) => candidate.deploymentId === deploymentId)
    if (step === undefined) return current
    current = record(current, successOf(current, step))
  }
  throw new Error(`deployment ${deploymentId} still has steps after 10 rounds`)
}

// ---------------------------------------------------------------------------------------------------
// Hostnames of the fixture project, and the route table as hostname -> deploymentId.

/** The production live hostname. */
export const liveHost = `shop-acme.${apexDomain}`
/** The environment hostnames. */
export const productionHost = `shop-production-acme.${apexDomain}`
export const previewHost = `shop-preview-acme.${apexDomain}`
/** A branch hostname; `branch` must already be a slug. */
export const branchHost = (branch: string): string => `shop-git-${branch}-acme.${apexDomain}`
/** A commit hostname (the first 7 hex digits of the sha). */
export const commitHost = (sha: string): string => `shop-git-${sha.slice(0, 7).toLowerCase()}-acme.${apexDomain}`
/** A per-deployment hostname; ids must be conventional (`dep_1` -> `dep-1`). */
export const deploymentHost = (deploymentId: string): string => `shop-${deploymentId.replace(/_/g, "-")}-acme.${apexDomain}`

export const routeMap = (state: ProjectState): Readonly<Record<string, string>> =>
  Object.fromEntries(Object.entries(state.routes).map(([hostname, route]) => [hostname, route.deploymentId]))
