/**
 * The status API's contract (HttpApi): read endpoints over the read model, and command endpoints that
 * publish to BERTH_COMMANDS. Handlers live in handlers.ts, serving in server.ts; the OpenAPI document
 * is derived from this definition.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { DeploymentId, ProjectId } from "../domain/ids.js"
import { DeploymentPage, DeploymentView, EventPage, ProjectList, ProjectView } from "../projections/views.js"
import { Liveness, Readiness } from "./healthViews.js"
import { BadRequestProblem, ConflictProblem, ForbiddenProblem, NotFoundProblem, ServiceUnavailableProblem } from "./problems.js"
import {
  CancelRequest,
  CommandAccepted,
  CreateProjectRequest,
  DeployRequest,
  ProjectAccepted,
  PromoteRequest,
  RollbackAccepted,
  RollbackRequest
} from "./requests.js"
import { Authentication } from "./security.js"
import { CreateTokenRequest, TokenCreated, TokenList } from "./tokenViews.js"

const ProjectIdPath = Schema.Struct({ projectId: Schema.String })
const TokenIdPath = Schema.Struct({ tokenId: Schema.String })
const DeploymentIdPath = Schema.Struct({ deploymentId: Schema.String })
/** Command endpoints name a subject token: the ids must be tokens. */
const CommandProjectPath = Schema.Struct({ projectId: ProjectId })
const CommandDeploymentPath = Schema.Struct({ deploymentId: DeploymentId })
/** A deployment addressed within its project: deployment ids are unique only per project. */
const ProjectDeploymentPath = Schema.Struct({ projectId: Schema.String, deploymentId: Schema.String })
const CommandProjectDeploymentPath = Schema.Struct({ projectId: ProjectId, deploymentId: DeploymentId })

const cancelDescription = "The body is optional. 404 when the deployment is unknown; 409 when it is already ready, failed or cancelled."
const ambiguous = "409 when several projects have a deployment with this id: use the project-scoped route instead."

export const ListDeploymentsParams = Schema.Struct({
  limit: Schema.optional(
    Schema.compose(
      Schema.String.annotations({ description: "page size, 1-100 (default 20)" }),
      Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100))
    )
  ),
  cursor: Schema.optional(Schema.String.annotations({ description: "nextCursor of the previous page" }))
})

export const ListEventsParams = Schema.Struct({
  limit: Schema.optional(
    Schema.compose(
      Schema.String.annotations({ description: "events per page, 1-500 (default 50); a page never splits an envelope" }),
      Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500))
    )
  ),
  after: Schema.optional(
    Schema.compose(
      Schema.String.annotations({ description: "a stream sequence: nextCursor of the previous page (default 0)" }),
      Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())
    )
  )
})

const asynchronous =
  "Publishes the command to berth.cmd.<projectId> (stream BERTH_COMMANDS) and answers 202 with its ids. " +
  "202 means published, not applied: Berth's project actor makes the final decision. Its outcome appears in " +
  "GET /v1/projects/{projectId}/events (the events with this commandId, or a CommandRejected with it) and in " +
  "the deployment resource. 400/404/409 answer requests that are malformed or contradict the read model."

/** The cancel body is optional: the derived document would mark it required. */
const optionalBody = (operation: Record<string, unknown>): Record<string, unknown> => {
  const body = operation["requestBody"]
  return typeof body === "object" && body !== null ? { ...operation, requestBody: { ...body, required: false } } : operation
}

/** Who may call what: every group but health needs a token (security.ts); 403 is the role or workspace check. */
const access =
  "Needs a bearer token: 401 without a valid one; 403 when the token's role or workspace does not cover the request."

export class ProjectsGroup extends HttpApiGroup.make("projects")
  .add(
    HttpApiEndpoint.get("listProjects", "/v1/projects")
      .addSuccess(ProjectList)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "The projects the token reaches (its workspace's, or every one for a token of all workspaces)")
  )
  .add(
    HttpApiEndpoint.post("createProject", "/v1/projects")
      .setPayload(CreateProjectRequest)
      .addSuccess(ProjectAccepted, { status: 202 })
      .addError(BadRequestProblem)
      .addError(ConflictProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "Create a project: publish a CreateProject command")
      .annotate(
        OpenApi.Description,
        `${asynchronous} 400 also for duplicate environment ids or slugs and more than one production environment; ` +
          "409 when the project already exists."
      )
  )
  .add(
    HttpApiEndpoint.get("getProject", "/v1/projects/:projectId")
      .setPath(ProjectIdPath)
      .addSuccess(ProjectView)
      .addError(NotFoundProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "A project, its environments, live deployment and recent live history")
  )
  .add(
    HttpApiEndpoint.get("listDeployments", "/v1/projects/:projectId/deployments")
      .setPath(ProjectIdPath)
      .setUrlParams(ListDeploymentsParams)
      .addSuccess(DeploymentPage)
      .addError(NotFoundProblem)
      .addError(ServiceUnavailableProblem)
      .addError(BadRequestProblem)
      .annotate(OpenApi.Summary, "A project's deployments, newest first, paged by cursor")
  )
  .add(
    HttpApiEndpoint.get("listEvents", "/v1/projects/:projectId/events")
      .setPath(ProjectIdPath)
      .setUrlParams(ListEventsParams)
      .addSuccess(EventPage)
      .addError(NotFoundProblem)
      .addError(ServiceUnavailableProblem)
      .addError(BadRequestProblem)
      .annotate(OpenApi.Summary, "A project's audit trail: every event, oldest first, paged by stream sequence")
  )
  .add(
    HttpApiEndpoint.post("deploy", "/v1/projects/:projectId/deployments")
      .setPath(CommandProjectPath)
      .setPayload(DeployRequest)
      .addSuccess(CommandAccepted, { status: 202 })
      .addError(BadRequestProblem)
      .addError(NotFoundProblem)
      .addError(ConflictProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "Deploy: publish a Deploy command")
      .annotate(
        OpenApi.Description,
        `${asynchronous} 404 when the project or environment is unknown; 409 when the deploymentId already exists in this project.`
      )
  )
  .add(
    HttpApiEndpoint.get("getProjectDeployment", "/v1/projects/:projectId/deployments/:deploymentId")
      .setPath(ProjectDeploymentPath)
      .addSuccess(DeploymentView)
      .addError(NotFoundProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "A deployment of a project: status, step timeline, instances, domains, OpenAPI capture")
  )
  .add(
    HttpApiEndpoint.post("cancelProjectDeployment", "/v1/projects/:projectId/deployments/:deploymentId/cancel")
      .setPath(CommandProjectDeploymentPath)
      .setPayload(CancelRequest)
      .addSuccess(CommandAccepted, { status: 202 })
      .addError(BadRequestProblem)
      .addError(NotFoundProblem)
      .addError(ConflictProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "Cancel a deployment of a project in progress (its Krane deployment and hostnames are then cleaned up)")
      .annotate(OpenApi.Description, `${asynchronous} ${cancelDescription}`)
      .annotate(OpenApi.Transform, optionalBody)
  )
  .add(
    HttpApiEndpoint.post("rollback", "/v1/projects/:projectId/rollback")
      .setPath(CommandProjectPath)
      .setPayload(RollbackRequest)
      .addSuccess(RollbackAccepted, { status: 202 })
      .addError(BadRequestProblem)
      .addError(NotFoundProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "Rollback: point the live and environment hostnames back at an earlier deployment")
      .annotate(
        OpenApi.Description,
        `${asynchronous} The source defaults to the live deployment (400 when there is none); 404 when the project, ` +
          "target or source is unknown in this project. After a rollback new deployments do not go live until a Promote."
      )
  )
  .add(
    HttpApiEndpoint.post("promote", "/v1/projects/:projectId/promote")
      .setPath(CommandProjectPath)
      .setPayload(PromoteRequest)
      .addSuccess(CommandAccepted, { status: 202 })
      .addError(BadRequestProblem)
      .addError(NotFoundProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "Promote: make a ready deployment live (or confirm a rollback)")
      .annotate(OpenApi.Description, `${asynchronous} 404 when the project or deployment is unknown in this project.`)
  )
  .addError(ForbiddenProblem)
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Projects")
  .annotate(OpenApi.Description, access)
{}

export class DeploymentsGroup extends HttpApiGroup.make("deployments")
  .add(
    HttpApiEndpoint.get("getDeployment", "/v1/deployments/:deploymentId")
      .setPath(DeploymentIdPath)
      .addSuccess(DeploymentView)
      .addError(NotFoundProblem)
      .addError(ConflictProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "A deployment by id alone: status, step timeline, instances, domains, OpenAPI capture")
      .annotate(OpenApi.Description, ambiguous)
  )
  .add(
    HttpApiEndpoint.post("cancelDeployment", "/v1/deployments/:deploymentId/cancel")
      .setPath(CommandDeploymentPath)
      .setPayload(CancelRequest)
      .addSuccess(CommandAccepted, { status: 202 })
      .addError(BadRequestProblem)
      .addError(NotFoundProblem)
      .addError(ConflictProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "Cancel a deployment in progress (its Krane deployment and hostnames are then cleaned up)")
      .annotate(
        OpenApi.Description,
        `${asynchronous} ${cancelDescription} ${ambiguous}`
      )
      .annotate(OpenApi.Transform, optionalBody)
  )
  .addError(ForbiddenProblem)
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Deployments")
  .annotate(OpenApi.Description, access)
{}

export class TokensGroup extends HttpApiGroup.make("tokens")
  .add(
    HttpApiEndpoint.post("createToken", "/v1/tokens")
      .setPayload(CreateTokenRequest)
      .addSuccess(TokenCreated, { status: 201 })
      .addError(BadRequestProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "Create an API token (admin): the answer holds the token, which is never shown again")
      .annotate(
        OpenApi.Description,
        "Only its sha256 hash is stored (NATS KV berth_tokens). An admin token scoped to a workspace can create tokens for that workspace only."
      )
  )
  .add(
    HttpApiEndpoint.get("listTokens", "/v1/tokens")
      .addSuccess(TokenList)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "The tokens the admin token reaches, without their secrets")
  )
  .add(
    HttpApiEndpoint.del("revokeToken", "/v1/tokens/:tokenId")
      .setPath(TokenIdPath)
      .addSuccess(Schema.Void, { status: 204 })
      .addError(NotFoundProblem)
      .addError(ServiceUnavailableProblem)
      .annotate(OpenApi.Summary, "Revoke a token (admin): it stops working at once")
  )
  .addError(ForbiddenProblem)
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Tokens")
  .annotate(OpenApi.Description, `${access} Every endpoint here needs the admin role.`)
{}

export class HealthGroup extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("healthz", "/healthz")
      .addSuccess(Liveness)
      .annotate(OpenApi.Summary, "Liveness: the API process answers")
  )
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(Readiness)
      .annotate(OpenApi.Summary, "Readiness: NATS and PostgreSQL reachable (503 otherwise), with every role's latest health report")
  )
  .annotate(OpenApi.Title, "Health")
{}

export class BerthApi extends HttpApi.make("berth")
  .add(ProjectsGroup)
  .add(DeploymentsGroup)
  .add(TokensGroup)
  .add(HealthGroup)
  .annotate(OpenApi.Title, "Berth status API")
  .annotate(OpenApi.Version, "0.1.0")
{}
