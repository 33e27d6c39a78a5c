/**
 * Commands: the public wire contract for `berth.cmd.<projectId>` (documented in the README).
 * Every command carries `type`, `commandId` (idempotency key) and `projectId`.
 * Every field is bounded (limits.ts); a message names the field by its path ("env: at most 256
 * entries (got 20000)"). The shapes events record (DeploySource, GitInfo, EnvironmentSpec) stay
 * unbounded, so the log written before the limits still decodes; commands use the Bounded ones.
 */
import { Schema } from "effect"
import { ApexDomain, CommandId, DeploymentId, EnvironmentId, ProjectId, Slug } from "./ids.js"
import {
  checkCommandArgs,
  checkCommandBytes,
  checkEnv,
  checkImage,
  checkMaxChars,
  encodedCommandBytes,
  limits
} from "./limits.js"

/** A string of at most `max` characters, refused with "at most N characters (got M)". */
const maxChars =
  (max: number) =>
  <A extends string, I, R>(self: Schema.Schema<A, I, R>) =>
    self.pipe(Schema.filter((text) => checkMaxChars(max)(text), { jsonSchema: { maxLength: max } }))

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
  defaultBranch: Schema.optional(Schema.String.pipe(Schema.minLength(1), maxChars(limits.branchChars))),
  /** Path the app serves its OpenAPI document at; Berth's configured default when absent. */
  // One leading slash: `//host/x` would read as a network-path reference (another host), not a path.
  openApiPath: Schema.optional(Schema.String.pipe(
    maxChars(limits.openApiPathChars),
    Schema.pattern(/^\/(?!\/)\S*$/, { message: () => "must be a path: one leading / and no whitespace" })
  )),
  environments: Schema.Array(EnvironmentSpec).pipe(
    Schema.minItems(1),
    Schema.filter(
      (environments) =>
        environments.length > limits.environments ? `at most ${limits.environments} environments (got ${environments.length})` : undefined,
      { jsonSchema: { maxItems: limits.environments } }
    )
  )
})
export type CreateProject = typeof CreateProject.Type

export const ImageSource = Schema.Struct({ image: Schema.String.pipe(Schema.minLength(1)) })
export const CommandSource = Schema.Struct({
  command: Schema.Array(Schema.String).pipe(Schema.minItems(1))
})
/** A source as recorded in DeploymentRequested (unbounded: see the header). */
export const DeploySource = Schema.Union(ImageSource, CommandSource)
export type DeploySource = typeof DeploySource.Type

/** A Deploy's source: image at most 512 characters; command at most 64 arguments of at most 4 KiB. */
export const BoundedDeploySource = Schema.Union(
  Schema.Struct({ image: Schema.String.pipe(Schema.minLength(1), Schema.filter(checkImage, { jsonSchema: { maxLength: limits.imageChars } })) }),
  Schema.Struct({ command: Schema.Array(Schema.String).pipe(Schema.minItems(1), Schema.filter(checkCommandArgs, {
      jsonSchema: { maxItems: limits.commandArgs },
      description: `at most ${limits.commandArgs} arguments of at most ${limits.commandArgBytes} UTF-8 bytes each`
    })) })
)

const gitSha = Schema.String.pipe(Schema.pattern(/^[0-9a-fA-F]{7,40}$/, { message: () => "must be 7-40 hex digits" }))

/** Git info as recorded in DeploymentRequested (unbounded message: see the header). */
export const GitInfo = Schema.Struct({
  sha: gitSha,
  branch: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(limits.branchChars))),
  message: Schema.optional(Schema.String)
})
export type GitInfo = typeof GitInfo.Type

/**
 * A Deploy's git info. A longer commit message is trimmed to 10,240 characters by the decider (as
 * before, and as Unkey does), not refused: the whole command's 256 KiB bounds it on arrival.
 */
export const BoundedGitInfo = Schema.Struct({
  sha: gitSha,
  branch: Schema.optional(Schema.String.pipe(Schema.minLength(1), maxChars(limits.branchChars))),
  message: Schema.optional(Schema.String)
})

/**
 * Environment variables: at most 256, names of at most 128 characters that are variable names (a name
 * that is not is refused, never dropped), 64 KiB of names and values. One check: 20,000 bad names are
 * one message, not 20,000.
 */
export const BoundedEnv = Schema.Record({ key: Schema.String, value: Schema.String }).pipe(Schema.filter(checkEnv, {
  jsonSchema: { maxProperties: limits.envEntries },
  description: `at most ${limits.envEntries} variables named [A-Za-z_][A-Za-z0-9_]*, names of at most ${limits.envKeyChars} characters, ${limits.envTotalBytes} UTF-8 bytes of names and values in all`
}))

export const Deploy = Schema.Struct({
  type: Schema.Literal("Deploy"),
  commandId: CommandId,
  projectId: ProjectId,
  deploymentId: DeploymentId,
  environmentId: EnvironmentId,
  /** Optional in the schema so that a missing source is rejected with Unkey's message, not a parse error. */
  source: Schema.optional(BoundedDeploySource),
  git: Schema.optional(BoundedGitInfo),
  replicas: Schema.optional(Schema.Int.pipe(Schema.between(1, 64, { message: () => "replicas must be between 1 and 64" }))),
  port: Schema.optional(Schema.Int.pipe(Schema.between(1, 65535, { message: () => "Port must be between 1 and 65535" }))),
  env: Schema.optional(BoundedEnv)
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

/**
 * The wire commands use `type` as the discriminator. A command is at most 256 KiB as Berth would
 * publish it (the intake refuses a larger raw message before parsing it; the API a larger body).
 */
export const Command = Schema.Union(CreateProject, Deploy, Rollback, Promote, CancelDeployment).pipe(
  Schema.filter((command) => checkCommandBytes(encodedCommandBytes(command)))
).annotations({ identifier: "Command" })
export type Command = typeof Command.Type
export const commandTypes: ReadonlyArray<Command["type"]> = ["CreateProject", "Deploy", "Rollback", "Promote", "CancelDeployment"]

/** The part of any command that is needed to address and de-duplicate it. */
export const CommandHeader = Schema.Struct({
  type: Schema.String.pipe(maxChars(limits.commandTypeChars)),
  commandId: CommandId,
  projectId: ProjectId
})
export type CommandHeader = typeof CommandHeader.Type
