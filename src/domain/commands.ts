/**
 * Commands: the public wire contract for `berth.cmd.<projectId>` (documented in the README).
 * Every command carries `type`, `commandId` (idempotency key) and `projectId`.
 */
import { Schema } from "effect"
import { ApexDomain, CommandId, DeploymentId, EnvironmentId, ProjectId, Slug } from "./ids.js"

export const EnvironmentKind = Schema.Literal("production", "preview")
export type EnvironmentKind = typeof EnvironmentKind.Type

export const EnvironmentSpec = Schema.Struct({
  id: EnvironmentId,
  slug: Slug,
  kind: EnvironmentKind
})
export type EnvironmentSpec = typeof EnvironmentSpec.Type

export const CreateProject = Schema.Struct({
  type: Schema.Literal("CreateProject"),
  commandId: CommandId,
  projectId: ProjectId,
  workspace: Slug,
  slug: Slug,
  apexDomain: ApexDomain,
  defaultBranch: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))),
  /** Path the app serves its OpenAPI document at; Berth's configured default when absent. */
  openApiPath: Schema.optional(Schema.String.pipe(Schema.pattern(/^\/[^\s]*$/))),
  environments: Schema.Array(EnvironmentSpec).pipe(Schema.minItems(1))
})
export type CreateProject = typeof CreateProject.Type

export const ImageSource = Schema.Struct({ image: Schema.String.pipe(Schema.minLength(1)) })
export const CommandSource = Schema.Struct({
  command: Schema.Array(Schema.String).pipe(Schema.minItems(1))
})
export const DeploySource = Schema.Union(ImageSource, CommandSource)
export type DeploySource = typeof DeploySource.Type

export const GitInfo = Schema.Struct({
  sha: Schema.String.pipe(Schema.pattern(/^[0-9a-fA-F]{7,40}$/, { message: () => "must be 7-40 hex digits" })),
  branch: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255))),
  message: Schema.optional(Schema.String)
})
export type GitInfo = typeof GitInfo.Type

export const Deploy = Schema.Struct({
  type: Schema.Literal("Deploy"),
  commandId: CommandId,
  projectId: ProjectId,
  deploymentId: DeploymentId,
  environmentId: EnvironmentId,
  /** Optional in the schema so that a missing source is rejected with Unkey's message, not a parse error. */
  source: Schema.optional(DeploySource),
  git: Schema.optional(GitInfo),
  replicas: Schema.optional(Schema.Int.pipe(Schema.between(1, 64, { message: () => "replicas must be between 1 and 64" }))),
  port: Schema.optional(Schema.Int.pipe(Schema.between(1, 65535, { message: () => "Port must be between 1 and 65535" }))),
  env: Schema.optional(Schema.Record({ key: Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/)), value: Schema.String }))
})
export type Deploy = typeof Deploy.Type

/** Points the live and environment hostnames back at an earlier deployment, and freezes them there. */
export const Rollback = Schema.Struct({
  type: Schema.Literal("Rollback"),
  commandId: CommandId,
  projectId: ProjectId,
  sourceDeploymentId: DeploymentId,
  targetDeploymentId: DeploymentId
})
export type Rollback = typeof Rollback.Type

/** Makes a ready deployment live (or confirms a rollback when it targets the rolled-back-to one). */
export const Promote = Schema.Struct({
  type: Schema.Literal("Promote"),
  commandId: CommandId,
  projectId: ProjectId,
  deploymentId: DeploymentId
})
export type Promote = typeof Promote.Type

export const CancelDeployment = Schema.Struct({
  type: Schema.Literal("CancelDeployment"),
  commandId: CommandId,
  projectId: ProjectId,
  deploymentId: DeploymentId
})
export type CancelDeployment = typeof CancelDeployment.Type

/** The wire commands use `type` as the discriminator. */
export const Command = Schema.Union(CreateProject, Deploy, Rollback, Promote, CancelDeployment)
export type Command = typeof Command.Type
export const commandTypes: ReadonlyArray<Command["type"]> = ["CreateProject", "Deploy", "Rollback", "Promote", "CancelDeployment"]

/** The part of any command that is needed to address and de-duplicate it. */
export const CommandHeader = Schema.Struct({
  type: Schema.String,
  commandId: CommandId,
  projectId: ProjectId
})
export type CommandHeader = typeof CommandHeader.Type
