/**
 * Events: the facts Berth records on `berth.evt.<projectId>`, one envelope per decision.
 * Part of the public wire contract (README). Add fields as optional; change a shape only with a new
 * envelope version and an upcaster in `upcast.ts`.
 */
import { Schema } from "effect"
import { DeploySource, EnvironmentSpec, GitInfo } from "./commands.js"

export const StickyKind = Schema.Literal("none", "branch", "environment", "live", "deployment")
export type StickyKind = typeof StickyKind.Type

export const DomainAssignment = Schema.Struct({ hostname: Schema.String, sticky: StickyKind })
export type DomainAssignment = typeof DomainAssignment.Type

export const InstanceStatus = Schema.Literal("PENDING", "RUNNING", "TERMINATING", "UNSPECIFIED")
export const Instance = Schema.Struct({ id: Schema.String, address: Schema.String, status: InstanceStatus })
export type Instance = typeof Instance.Type

/** The durable steps of a deployment, as named in failures and in the read model's timeline. */
export const StepName = Schema.Literal(
  "build",
  "krane-create",
  "await-instances",
  "scrape-openapi",
  "assign-domains",
  "go-live",
  "compensate"
)
export type StepName = typeof StepName.Type

export const ProjectCreated = Schema.Struct({
  type: Schema.Literal("ProjectCreated"),
  projectId: Schema.String,
  workspace: Schema.String,
  slug: Schema.String,
  apexDomain: Schema.String,
  defaultBranch: Schema.String,
  openApiPath: Schema.optional(Schema.String),
  environments: Schema.Array(EnvironmentSpec)
})

export const DeploymentRequested = Schema.Struct({
  type: Schema.Literal("DeploymentRequested"),
  deploymentId: Schema.String,
  environmentId: Schema.String,
  source: DeploySource,
  git: Schema.optional(GitInfo),
  replicas: Schema.Int,
  port: Schema.Int,
  cpuMillicores: Schema.Int,
  memorySizeMib: Schema.Int,
  env: Schema.Record({ key: Schema.String, value: Schema.String })
})

export const DeploymentBuilding = Schema.Struct({
  type: Schema.Literal("DeploymentBuilding"),
  deploymentId: Schema.String
})

export const KraneDeploymentCreated = Schema.Struct({
  type: Schema.Literal("KraneDeploymentCreated"),
  deploymentId: Schema.String,
  namespace: Schema.String,
  /** The id Krane knows it by, keyed by project (kraneIds.ts). Absent in events written before that. */
  kraneDeploymentId: Schema.optional(Schema.String),
  /** Epoch ms after which a deployment whose instances are not all running fails; survives restarts. */
  readyDeadlineAt: Schema.Number
})

export const InstancesObserved = Schema.Struct({
  type: Schema.Literal("InstancesObserved"),
  deploymentId: Schema.String,
  instances: Schema.Array(Instance)
})

export const OpenApiSpecCaptured = Schema.Struct({
  type: Schema.Literal("OpenApiSpecCaptured"),
  deploymentId: Schema.String,
  path: Schema.String,
  /** The document is kept in the object store bucket BERTH_OPENAPI under this name, not in the log. */
  objectName: Schema.String,
  sizeBytes: Schema.Int,
  sha256: Schema.String
})

export const OpenApiSpecNotFound = Schema.Struct({
  type: Schema.Literal("OpenApiSpecNotFound"),
  deploymentId: Schema.String,
  path: Schema.String,
  reason: Schema.String
})

export const DomainsAssigned = Schema.Struct({
  type: Schema.Literal("DomainsAssigned"),
  deploymentId: Schema.String,
  /** Hostnames that now route to this deployment. */
  domains: Schema.Array(DomainAssignment),
  /** Generated hostnames of this deployment that stayed with another deployment (rolled back, or newer). */
  withheld: Schema.Array(DomainAssignment),
  routeRevision: Schema.Number
})

export const DeploymentReady = Schema.Struct({
  type: Schema.Literal("DeploymentReady"),
  deploymentId: Schema.String
})

export const LiveSwitched = Schema.Struct({
  type: Schema.Literal("LiveSwitched"),
  from: Schema.NullOr(Schema.String),
  to: Schema.String,
  reason: Schema.Literal("deploy", "rollback", "promote")
})

/**
 * Sticky hostnames moved from one deployment to another by a Rollback or Promote, in one atomic
 * route-table write (gateway upstreams and domain pointers together).
 */
export const DomainsSwitched = Schema.Struct({
  type: Schema.Literal("DomainsSwitched"),
  toDeploymentId: Schema.String,
  domains: Schema.Array(DomainAssignment),
  reason: Schema.Literal("rollback", "promote"),
  routeRevision: Schema.Number
})

/** A Promote of the deployment a rollback made live: the rollback is confirmed, nothing moves. */
export const RollbackCleared = Schema.Struct({
  type: Schema.Literal("RollbackCleared"),
  deploymentId: Schema.String
})

export const DeploymentCancelled = Schema.Struct({
  type: Schema.Literal("DeploymentCancelled"),
  deploymentId: Schema.String,
  /** The step it was at when the cancel was decided. */
  step: StepName,
  commandId: Schema.String
})

/** Compensation of a failed or cancelled deployment finished: Krane deployment deleted, hostnames released. */
export const DeploymentCompensated = Schema.Struct({
  type: Schema.Literal("DeploymentCompensated"),
  deploymentId: Schema.String,
  kraneDeleted: Schema.Boolean,
  releasedDomains: Schema.Array(Schema.String),
  /** Set when some compensation could not be done (after its bounded retries): what an operator must clean up. */
  problem: Schema.optional(Schema.String)
})

export const DeploymentFailed = Schema.Struct({
  type: Schema.Literal("DeploymentFailed"),
  deploymentId: Schema.String,
  step: StepName,
  reason: Schema.String
})

export const CommandRejected = Schema.Struct({
  type: Schema.Literal("CommandRejected"),
  commandId: Schema.String,
  commandType: Schema.String,
  code: Schema.String,
  message: Schema.String
})

export const ProjectEvent = Schema.Union(
  ProjectCreated,
  DeploymentRequested,
  DeploymentBuilding,
  KraneDeploymentCreated,
  InstancesObserved,
  OpenApiSpecCaptured,
  OpenApiSpecNotFound,
  DomainsAssigned,
  DeploymentReady,
  LiveSwitched,
  DeploymentFailed,
  DomainsSwitched,
  RollbackCleared,
  DeploymentCancelled,
  DeploymentCompensated,
  CommandRejected
)
export type ProjectEvent = typeof ProjectEvent.Type
export type EventOf<T extends ProjectEvent["type"]> = Extract<ProjectEvent, { readonly type: T }>

/**
 * One message on `berth.evt.<projectId>`: every event of one decision, appended atomically.
 * The project version of the envelope is its JetStream stream sequence (message metadata);
 * `previousVersion` is the version it was appended after (the expected last subject sequence).
 */
export const EventEnvelope = Schema.Struct({
  v: Schema.Literal(1),
  projectId: Schema.String,
  /** The command that caused this decision, or null for a step result. */
  commandId: Schema.NullOr(Schema.String),
  previousVersion: Schema.Number,
  /** Epoch ms when the decision was made. */
  at: Schema.Number,
  /**
   * Who sent the command: the API token's id (`tok_…`, `admin`) when the API's signature on it
   * verified, `nats` for any other publisher; absent for step results (and envelopes from before).
   */
  actor: Schema.optional(Schema.String),
  events: Schema.Array(ProjectEvent)
})
export type EventEnvelope = typeof EventEnvelope.Type
