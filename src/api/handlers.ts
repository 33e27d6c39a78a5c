/**
 * Handlers for the status API: each endpoint runs a read-model query and maps "absent" to a
 * NotFound problem. Database failures are defects here (answered 500 by the server).
 */
import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
import { getDeployment, getProject, listDeployments } from "../projections/queries.js"
import { BerthApi } from "./BerthApi.js"
import { BadRequest, NotFound } from "./problems.js"

const orNotFound = (detail: string) => <A, E, R>(self: Effect.Effect<Option.Option<A>, E, R>) =>
  Effect.flatMap(
    Effect.orDie(self),
    Option.match({ onNone: () => Effect.fail(new NotFound({ detail })), onSome: Effect.succeed })
  )

export const ProjectsLive = HttpApiBuilder.group(BerthApi, "projects", (handlers) =>
  handlers
    .handle("getProject", ({ path }) => getProject(path.projectId).pipe(orNotFound(`project not found: ${path.projectId}`)))
    .handle("listDeployments", ({ path, urlParams }) =>
      listDeployments(path.projectId, { limit: urlParams.limit, cursor: urlParams.cursor }).pipe(
        Effect.catchTag("InvalidCursor", (e) => Effect.fail(new BadRequest({ detail: `invalid cursor: ${e.cursor}` }))),
        Effect.flatMap((page) => Option.isNone(page) ? Effect.fail(new NotFound({ detail: `project not found: ${path.projectId}` })) : Effect.succeed(page.value)),
        Effect.catchTag("DatabaseError", Effect.die)
      ))
)

export const DeploymentsLive = HttpApiBuilder.group(BerthApi, "deployments", (handlers) =>
  handlers.handle("getDeployment", ({ path }) =>
    getDeployment(path.deploymentId).pipe(orNotFound(`deployment not found: ${path.deploymentId}`)))
)
