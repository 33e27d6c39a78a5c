/**
 * What the read model answers, as Schemas: the shapes queries.ts returns and the status API serves
 * (dates are Date values in code and ISO-8601 strings on the wire).
 */
import { Schema } from "effect"
import { DeploySource, EnvironmentKind } from "../domain/commands.js"
import { StepName } from "../domain/events.js"

const Timestamp = Schema.Date.annotations({ description: "ISO-8601 timestamp" })
const NullableTimestamp = Schema.NullOr(Timestamp)

export const DeploymentStatusSchema = Schema.Literal("pending", "building", "deploying", "ready", "failed", "cancelled").annotations({
  identifier: "DeploymentStatus"
})

export const EnvironmentView = Schema.Struct({
  environmentId: Schema.String,
  slug: Schema.String,
  kind: EnvironmentKind
}).annotations({ identifier: "Environment" })
export type EnvironmentView = typeof EnvironmentView.Type

export const LiveSwitchView = Schema.Struct({
  version: Schema.Number.annotations({ description: "stream sequence of the envelope that moved the live pointer" }),
  at: Timestamp,
  fromDeploymentId: Schema.NullOr(Schema.String),
  toDeploymentId: Schema.String,
  reason: Schema.Literal("deploy", "rollback", "promote")
}).annotations({ identifier: "LiveSwitch", description: "One move of the live pointer" })
export type LiveSwitchView = typeof LiveSwitchView.Type

export const ProjectView = Schema.Struct({
  projectId: Schema.String,
  workspace: Schema.String,
  slug: Schema.String,
  apexDomain: Schema.String,
  defaultBranch: Schema.String,
  openApiPath: Schema.NullOr(Schema.String),
  environments: Schema.Array(EnvironmentView),
  liveDeploymentId: Schema.NullOr(Schema.String),
  rolledBack: Schema.Boolean.annotations({
    description: "true while the live deployment was chosen by a rollback (new deployments do not go live until a promote)"
  }),
  liveHistory: Schema.Array(LiveSwitchView).annotations({ description: "the last 20 moves of the live pointer, newest first" }),
  version: Schema.Number.annotations({ description: "stream sequence of the last event applied to this project" }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  /** Not from the read model: the orchestrator's quarantine (KV berth_quarantine), added by the API. */
  unavailable: Schema.optional(
    Schema.Struct({
      reason: Schema.String,
      since: Timestamp,
      seq: Schema.optional(Schema.Number)
    }).annotations({
      description: "present while the project's event log cannot be decoded: its commands are rejected (project_unavailable) until it can"
    })
  )
}).annotations({ identifier: "Project", description: "A project with its environments and live deployment" })
export type ProjectView = typeof ProjectView.Type

export const GitView = Schema.Struct({
  sha: Schema.String,
  branch: Schema.NullOr(Schema.String),
  message: Schema.NullOr(Schema.String)
}).annotations({ identifier: "GitInfo" })

export const DeploymentSummary = Schema.Struct({
  deploymentId: Schema.String,
  projectId: Schema.String,
  environmentId: Schema.String,
  status: DeploymentStatusSchema,
  git: Schema.NullOr(GitView),
  isLive: Schema.Boolean,
  createdAt: Timestamp,
  updatedAt: Timestamp
}).annotations({ identifier: "DeploymentSummary" })
export type DeploymentSummary = typeof DeploymentSummary.Type

export const DeploymentPage = Schema.Struct({
  deployments: Schema.Array(DeploymentSummary),
  nextCursor: Schema.NullOr(Schema.String).annotations({ description: "pass as `cursor` for the next (older) page" })
}).annotations({ identifier: "DeploymentPage", description: "A project's deployments, newest first" })
export type DeploymentPage = typeof DeploymentPage.Type

export const StepView = Schema.Struct({
  step: StepName,
  startedAt: Timestamp,
  endedAt: NullableTimestamp,
  error: Schema.NullOr(Schema.String)
}).annotations({ identifier: "DeploymentStep" })
export type StepView = typeof StepView.Type

export const InstanceView = Schema.Struct({
  instanceId: Schema.String,
  address: Schema.String,
  status: Schema.String,
  updatedAt: Timestamp
}).annotations({ identifier: "Instance" })
export type InstanceView = typeof InstanceView.Type

export const DomainView = Schema.Struct({
  hostname: Schema.String,
  sticky: Schema.String,
  environmentId: Schema.String,
  updatedAt: Timestamp
}).annotations({ identifier: "Domain" })
export type DomainView = typeof DomainView.Type

export const OpenApiView = Schema.Struct({
  path: Schema.String,
  sizeBytes: Schema.Number,
  sha256: Schema.String,
  capturedAt: Timestamp,
  stored: Schema.Boolean.annotations({ description: "false when the document was missing from the object store" })
}).annotations({ identifier: "OpenApiSpec" })
export type OpenApiView = typeof OpenApiView.Type

export const DeploymentView = Schema.Struct({
  deploymentId: Schema.String,
  projectId: Schema.String,
  environmentId: Schema.String,
  status: DeploymentStatusSchema,
  isLive: Schema.Boolean,
  source: DeploySource,
  git: Schema.NullOr(GitView),
  replicas: Schema.Number,
  port: Schema.Number,
  failure: Schema.NullOr(Schema.Struct({ step: Schema.String, reason: Schema.String })),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  buildingAt: NullableTimestamp,
  deployingAt: NullableTimestamp,
  readyAt: NullableTimestamp,
  failedAt: NullableTimestamp,
  cancelledAt: NullableTimestamp,
  compensatedAt: NullableTimestamp.annotations({
    description: "when a failed or cancelled deployment's Krane deployment and hostnames were cleaned up (see the compensate step)"
  }),
  steps: Schema.Array(StepView),
  instances: Schema.Array(InstanceView),
  domains: Schema.Array(DomainView),
  openApiCaptured: Schema.Boolean,
  openApi: Schema.NullOr(OpenApiView)
}).annotations({ identifier: "Deployment", description: "A deployment with its step timeline, instances and domains" })
export type DeploymentView = typeof DeploymentView.Type

export const AuditEventView = Schema.Struct({
  streamSeq: Schema.Number.annotations({ description: "stream sequence of the event's envelope (the project version it made)" }),
  index: Schema.Number.annotations({ description: "position of the event within its envelope" }),
  type: Schema.String.annotations({ description: "the event type (or Undecodable for a message the projector could not read)" }),
  commandId: Schema.NullOr(Schema.String).annotations({ description: "the command that caused the decision; null for a step result" }),
  actor: Schema.NullOr(Schema.String).annotations({
    description: "who sent that command: an API token id (tok_…, admin), or nats for a publisher outside the API; null for a step result"
  }),
  at: Timestamp,
  payload: Schema.Unknown.annotations({ description: "the event as recorded on berth.evt.<projectId> (see the wire contract)" })
}).annotations({ identifier: "AuditEvent" })
export type AuditEventView = typeof AuditEventView.Type

export const EventPage = Schema.Struct({
  events: Schema.Array(AuditEventView),
  nextCursor: Schema.NullOr(Schema.Number).annotations({
    description: "pass as `after` for the next page; null on the last page (to poll for newer events, pass the last streamSeq)"
  })
}).annotations({ identifier: "EventPage", description: "A project's events, oldest first; a page never splits an envelope" })
export type EventPage = typeof EventPage.Type

export const ProjectSummary = Schema.Struct({
  projectId: Schema.String,
  workspace: Schema.String,
  slug: Schema.String,
  apexDomain: Schema.String,
  liveDeploymentId: Schema.NullOr(Schema.String),
  updatedAt: Timestamp
}).annotations({ identifier: "ProjectSummary" })
export type ProjectSummary = typeof ProjectSummary.Type

export const ProjectList = Schema.Struct({
  projects: Schema.Array(ProjectSummary)
}).annotations({ identifier: "ProjectList", description: "The projects the token reaches, by workspace and id" })
export type ProjectList = typeof ProjectList.Type
