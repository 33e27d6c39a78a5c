/**
 * The command endpoints' request and response bodies, built from the domain's command Schemas (so
 * the API accepts exactly what the wire contract accepts, limits included), and the body decoding
 * they share: JSON read by hand (handleRaw), so a malformed or missing body is a 400 problem like any
 * invalid field, and a body (or the command built from it) over 256 KiB is a 413 (PayloadTooLarge).
 */
import { HttpIncomingMessage, type HttpServerRequest } from "@effect/platform"
import { Data, Effect, Either, Option, ParseResult, Schema } from "effect"
import { BoundedDeploySource, BoundedEnv, BoundedGitInfo, type Command, CreateProject, Deploy } from "../domain/commands.js"
import { CommandId, DeploymentId, EnvironmentId } from "../domain/ids.js"
import { checkCommandBytes, encodedCommandBytes, limits, utf8Bytes } from "../domain/limits.js"
import { BadRequest } from "./problems.js"
import { formatParseIssues } from "../shared/parseIssues.js"

/**
 * A request body, or the command built from it, over the command limit: answered 413 by the handlers
 * (handlers.ts tooLarge), as a problem document like every other error.
 */
export class PayloadTooLarge extends Data.TaggedError("PayloadTooLarge")<{ readonly detail: string }> {}

/** Optional everywhere: the idempotency key of the published command, `cmd_<random>` when absent. */
const commandIdField = Schema.optional(CommandId)

export const CreateProjectRequest = Schema.Struct({
  projectId: CreateProject.fields.projectId,
  commandId: commandIdField,
  workspace: CreateProject.fields.workspace,
  slug: CreateProject.fields.slug,
  apexDomain: CreateProject.fields.apexDomain,
  defaultBranch: CreateProject.fields.defaultBranch,
  openApiPath: CreateProject.fields.openApiPath,
  environments: CreateProject.fields.environments
}).annotations({
  identifier: "CreateProjectRequest",
  description: "A CreateProject command without type; commandId (cmd_…) is generated when absent"
})
export type CreateProjectRequest = typeof CreateProjectRequest.Type

export const DeployRequest = Schema.Struct({
  deploymentId: Schema.optional(DeploymentId),
  commandId: commandIdField,
  environmentId: EnvironmentId,
  source: Schema.propertySignature(BoundedDeploySource).annotations({
    missingMessage: () => "source must be specified (either image or command)"
  }),
  git: Schema.optional(BoundedGitInfo),
  replicas: Deploy.fields.replicas,
  port: Deploy.fields.port,
  env: Schema.optional(BoundedEnv.annotations({
    description: `Environment variables for the app: at most ${limits.envEntries} variables named [A-Za-z_][A-Za-z0-9_]*, ${limits.envTotalBytes} UTF-8 bytes of names and values (a sealed value counts its cleartext). Values are sealed (AES-256-GCM) before the command is published and shown as sealed(<fingerprint>) everywhere after; a value may also be sent already sealed (sealed:v1:…, from \`berth secrets seal\`)`
  }))
}).annotations({
  identifier: "DeployRequest",
  description: "A Deploy command without type and projectId (from the path); deploymentId (dep_…) and commandId (cmd_…) are generated when absent"
})
export type DeployRequest = typeof DeployRequest.Type

export const RollbackRequest = Schema.Struct({
  targetDeploymentId: DeploymentId,
  sourceDeploymentId: Schema.optional(DeploymentId),
  commandId: commandIdField
}).annotations({
  identifier: "RollbackRequest",
  description: "sourceDeploymentId defaults to the project's live deployment"
})
export type RollbackRequest = typeof RollbackRequest.Type

export const PromoteRequest = Schema.Struct({
  deploymentId: DeploymentId,
  commandId: commandIdField
}).annotations({ identifier: "PromoteRequest" })
export type PromoteRequest = typeof PromoteRequest.Type

export const CancelRequest = Schema.Struct({
  commandId: commandIdField
}).annotations({ identifier: "CancelRequest", description: "optional: an empty body is {}" })
export type CancelRequest = typeof CancelRequest.Type

const Links = Schema.Struct({
  deployment: Schema.String.annotations({ description: "the deployment resource, once projected" }),
  events: Schema.String.annotations({ description: "the project's audit trail: Berth's decision on this command appears there" })
})

const acceptedFields = {
  commandId: Schema.String,
  projectId: Schema.String,
  status: Schema.Literal("accepted").annotations({ description: "published to BERTH_COMMANDS; Berth has not decided yet" }),
  links: Links
}

export const CommandAccepted = Schema.Struct({
  ...acceptedFields,
  deploymentId: Schema.String
}).annotations({ identifier: "CommandAccepted", description: "The command was published; Berth decides it asynchronously" })
export type CommandAccepted = typeof CommandAccepted.Type

export const RollbackAccepted = Schema.Struct({
  ...acceptedFields,
  sourceDeploymentId: Schema.String,
  targetDeploymentId: Schema.String
}).annotations({ identifier: "RollbackAccepted", description: "The Rollback was published; Berth decides it asynchronously" })
export type RollbackAccepted = typeof RollbackAccepted.Type

export const ProjectAccepted = Schema.Struct({
  commandId: Schema.String,
  projectId: Schema.String,
  status: acceptedFields.status,
  links: Schema.Struct({
    project: Schema.String.annotations({ description: "the project resource, once projected" }),
    events: Links.fields.events
  })
}).annotations({ identifier: "ProjectAccepted", description: "The CreateProject was published; Berth decides it asynchronously" })
export type ProjectAccepted = typeof ProjectAccepted.Type

export const projectLinks = (projectId: string): ProjectAccepted["links"] => ({
  project: `/v1/projects/${projectId}`,
  events: `/v1/projects/${projectId}/events`
})

export const links = (projectId: string, deploymentId: string): CommandAccepted["links"] => ({
  deployment: `/v1/projects/${projectId}/deployments/${deploymentId}`,
  events: `/v1/projects/${projectId}/events`
})

/** One line per problem, worded as the command intake words them (src/shared/parseIssues.ts). */
export const formatIssues = (error: ParseResult.ParseError): string => formatParseIssues(error, { fallback: "invalid request body" })

const bodyTooLarge = (bytes: number) => new PayloadTooLarge({ detail: `request body: ${checkCommandBytes(bytes) ?? ""}` })

/**
 * The body as text, at most the command limit: a Content-Length over it is refused before anything
 * is read; a body that turns out longer (chunked, or a lying length) stops being read at the limit.
 */
const readBoundedText = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<string, BadRequest | PayloadTooLarge> => {
  const declared = Number(request.headers["content-length"] ?? "")
  if (Number.isFinite(declared) && declared > limits.commandBytes) return Effect.fail(bodyTooLarge(declared))
  return request.text.pipe(
    HttpIncomingMessage.withMaxBodySize(Option.some(limits.commandBytes)),
    Effect.mapError((e) =>
      e.cause instanceof Error && e.cause.message === "maxBytes exceeded"
        ? new PayloadTooLarge({ detail: `request body: ${checkCommandBytes(limits.commandBytes + 1) ?? ""}` })
        : new BadRequest({ detail: `could not read the request body: ${e.message}` })
    ),
    Effect.filterOrFail((text) => utf8Bytes(text) <= limits.commandBytes, (text) => bodyTooLarge(utf8Bytes(text)))
  )
}

/**
 * The command as it will be published is within the limit (a body just under 256 KiB gains type,
 * projectId and generated ids): the intake would refuse it otherwise, after the 202.
 */
export const checkPublishable = (command: Command): Effect.Effect<void, PayloadTooLarge> => {
  const issue = checkCommandBytes(encodedCommandBytes(command))
  return issue === undefined ? Effect.void : Effect.fail(new PayloadTooLarge({ detail: `${command.type} command: ${issue}` }))
}

/**
 * Reads and decodes a JSON body: not JSON, not an object or not matching `schema` is a BadRequest;
 * over 256 KiB a PayloadTooLarge. With `optional`, an empty body is `{}`.
 */
export const decodeBody = <A, I>(
  schema: Schema.Schema<A, I, never>,
  options: { readonly optional?: boolean } = {}
) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
  return (request: HttpServerRequest.HttpServerRequest): Effect.Effect<A, BadRequest | PayloadTooLarge> =>
    Effect.gen(function*() {
      const text = yield* readBoundedText(request)
      let json: unknown = {}
      if (text.trim() !== "") {
        try {
          json = JSON.parse(text)
        } catch (e) {
          return yield* new BadRequest({ detail: `request body is not JSON: ${e instanceof Error ? e.message : String(e)}` })
        }
      } else if (options.optional !== true) {
        return yield* new BadRequest({ detail: "a JSON request body is required" })
      }
      if (typeof json !== "object" || json === null || Array.isArray(json)) {
        return yield* new BadRequest({ detail: "request body must be a JSON object" })
      }
      const decoded = decode(json)
      return Either.isRight(decoded) ? decoded.right : yield* new BadRequest({ detail: formatIssues(decoded.left) })
    })
}
