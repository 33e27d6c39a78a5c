/**
 * The status API's contract (HttpApi): read endpoints over the read model. Handlers live in
 * handlers.ts, serving in server.ts; the OpenAPI document is derived from this definition.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { DeploymentPage, DeploymentView, ProjectView } from "../projections/views.js"
import { BadRequestProblem, NotFoundProblem } from "./problems.js"

const ProjectIdPath = Schema.Struct({ projectId: Schema.String })
const DeploymentIdPath = Schema.Struct({ deploymentId: Schema.String })

export const ListDeploymentsParams = Schema.Struct({
  limit: Schema.optional(
    Schema.compose(
      Schema.String.annotations({ description: "page size, 1-100 (default 20)" }),
      Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100))
    )
  ),
  cursor: Schema.optional(Schema.String.annotations({ description: "nextCursor of the previous page" }))
})

export class ProjectsGroup extends HttpApiGroup.make("projects")
  .add(
    HttpApiEndpoint.get("getProject", "/v1/projects/:projectId")
      .setPath(ProjectIdPath)
      .addSuccess(ProjectView)
      .addError(NotFoundProblem)
      .annotate(OpenApi.Summary, "A project, its environments and live deployment")
  )
  .add(
    HttpApiEndpoint.get("listDeployments", "/v1/projects/:projectId/deployments")
      .setPath(ProjectIdPath)
      .setUrlParams(ListDeploymentsParams)
      .addSuccess(DeploymentPage)
      .addError(NotFoundProblem)
      .addError(BadRequestProblem)
      .annotate(OpenApi.Summary, "A project's deployments, newest first, paged by cursor")
  )
  .annotate(OpenApi.Title, "Projects")
{}

export class DeploymentsGroup extends HttpApiGroup.make("deployments")
  .add(
    HttpApiEndpoint.get("getDeployment", "/v1/deployments/:deploymentId")
      .setPath(DeploymentIdPath)
      .addSuccess(DeploymentView)
      .addError(NotFoundProblem)
      .annotate(OpenApi.Summary, "A deployment: status, step timeline, instances, domains, OpenAPI capture")
  )
  .annotate(OpenApi.Title, "Deployments")
{}

export class BerthApi extends HttpApi.make("berth")
  .add(ProjectsGroup)
  .add(DeploymentsGroup)
  .annotate(OpenApi.Title, "Berth status API")
  .annotate(OpenApi.Version, "0.1.0")
{}
