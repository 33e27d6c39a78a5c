/**
 * Handlers for the status API. Read endpoints run a read-model query and map "absent" to a NotFound
 * problem. Command endpoints decode their body (handleRaw: a missing or non-JSON body is a 400 like any
 * invalid field), check what the read model can tell for certain (unknown project or deployment,
 * duplicate deploymentId, a deployment already finished), publish the command and answer 202: the
 * decision itself is the project actor's. While the read model (PostgreSQL) cannot answer, every
 * endpoint that needs it answers 503 with Retry-After (server.ts), and the API itself stays up. A body
 * over the command limit (256 KiB) is a 413 problem (tooLarge). Every handler first checks the
 * caller's role (security.ts: 403), then, once it knows the project, the caller's workspace (403 for
 * another workspace's project; lists are filtered to the caller's workspace).
 */
import { HttpApiBuilder, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import type { KV } from "@nats-io/kv"
import { Duration, Effect, Either, Option } from "effect"
import { openQuarantineBucket, quarantineOf } from "../actors/quarantine.js"
import { openInBackground } from "../nats/buckets.js"
import { Nats } from "../nats/Nats.js"
import type { CreateProject, Deploy } from "../domain/commands.js"
import { apexDomainsConfig } from "../config.js"
import { apexIssue } from "../domain/apex.js"
import type { Rejection } from "../domain/rejection.js"
import { isTerminal } from "../domain/state.js"
import { rollbackDeployments, rollbackIdsIssue } from "../domain/switches.js"
import {
  deploymentExists,
  deploymentNotFound,
  environmentNotFound,
  environmentsIssue,
  notCancellable,
  projectExists,
  projectNotFound
} from "../domain/validation.js"
import type { DatabaseError } from "../projections/Database.js"
import {
  findDeploymentProjects,
  getDeployment,
  getDeploymentRef,
  getProject,
  getProjectWorkspace,
  listDeployments,
  listEvents,
  listProjects,
  type DeploymentRef
} from "../projections/queries.js"
import type { ProjectView } from "../projections/views.js"
import { Secrets } from "../secrets/Secrets.js"
import { BerthApi } from "./BerthApi.js"
import { BadRequest, Conflict, NotFound, problemBody, ServiceUnavailable, problemContentType } from "./problems.js"
import { newCommandId, newDeploymentId, publishCommand } from "./publish.js"
import { authorize, authorizeRole } from "./security.js"
import type { Role } from "../auth/scope.js"
import {
  CancelRequest,
  checkPublishable,
  CreateProjectRequest,
  decodeBody,
  DeployRequest,
  links,
  projectLinks,
  PromoteRequest,
  RollbackRequest,
  type PayloadTooLarge
} from "./requests.js"

/**
 * 413 as a problem document. A response of its own rather than a declared error: the endpoints'
 * error list (BerthApi.ts) does not name 413 yet.
 */
const tooLarge = (error: PayloadTooLarge) =>
  Effect.succeed(
    HttpServerResponse.unsafeJson(problemBody(413, "Content Too Large", error.detail), { status: 413, contentType: problemContentType })
  )

/** PostgreSQL away or too slow: the client may retry (503 + Retry-After); the details go to the log only. */
const readModel = <A, R>(self: Effect.Effect<A, DatabaseError, R>): Effect.Effect<A, ServiceUnavailable, R> =>
  self.pipe(
    Effect.tapError((error) => Effect.logWarning("read model unavailable", error.message)),
    Effect.mapError(() => new ServiceUnavailable({ detail: "the read model is unavailable (PostgreSQL does not answer); try again shortly" }))
  )

const orNotFound = (detail: string) => <A, R>(self: Effect.Effect<Option.Option<A>, DatabaseError, R>) =>
  Effect.flatMap(
    readModel(self),
    Option.match({ onNone: () => Effect.fail(new NotFound({ detail })), onSome: Effect.succeed })
  )

/** A domain rule's rejection (src/domain/validation.ts, switches.ts) as a problem, with the domain's message. */
const asBadRequest = (rejection: Rejection) => new BadRequest({ detail: rejection.message })
const asNotFound = (rejection: Rejection) => new NotFound({ detail: rejection.message })
const asConflict = (rejection: Rejection) => new Conflict({ detail: rejection.message })

/** The rollback pre-checks' rejections (switches.ts): invalid ids 400, an unknown deployment 404. */
const rejected = (rejection: Rejection): Effect.Effect<never, NotFound | BadRequest> =>
  Effect.fail(rejection.code === "invalid_input" ? asBadRequest(rejection) : asNotFound(rejection))

const projectOrNotFound = (projectId: string) => getProject(projectId).pipe(orNotFound(projectNotFound(projectId).message))

/** A deployment of `project` (one of another project is as unknown as a missing one). */
const deploymentOf = (project: ProjectView, deploymentId: string) =>
  getDeploymentRef(project.projectId, deploymentId).pipe(orNotFound(deploymentNotFound(deploymentId).message))

/**
 * The caller holds `role` in the workspace of `projectId` (read from the read model). A caller of
 * every workspace needs no lookup; for a scoped one, a project the read model does not know is a 404.
 */
const authorizeProject = (role: Role, projectId: string) =>
  Effect.gen(function*() {
    const caller = yield* authorizeRole(role)
    if (caller.workspace === null) return
    const workspace = yield* getProjectWorkspace(projectId).pipe(orNotFound(projectNotFound(projectId).message))
    yield* authorize(role, workspace)
  })

/**
 * The one project with a deployment of this id, for the unscoped routes. Deployment ids are unique
 * only within a project: when several projects use one, the caller must say which (409).
 */
const projectOfDeployment = (deploymentId: string, workspace: string | null) =>
  Effect.flatMap(readModel(findDeploymentProjects(deploymentId, workspace)), (projects): Effect.Effect<string, NotFound | Conflict> => {
    const [only, ...others] = projects
    if (only === undefined) return Effect.fail(asNotFound(deploymentNotFound(deploymentId)))
    if (others.length > 0) {
      // The projects listed are ones the caller may see (findDeploymentProjects keeps to its workspace).
      return Effect.fail(new Conflict({
        detail: `deployment id ${deploymentId} is used by several projects (${projects.join(", ")}): ` +
          `name the project, /v1/projects/{projectId}/deployments/${deploymentId}`
      }))
    }
    return Effect.succeed(only)
  })

const deploymentView = (projectId: string, deploymentId: string) =>
  getDeployment(projectId, deploymentId).pipe(orNotFound(deploymentNotFound(deploymentId).message))

/** Cancel: checks what the read model knows for certain, publishes, answers 202. */
const cancelDeployment = (deployment: DeploymentRef, request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function*() {
    const body = yield* decodeCancel(request)
    if (isTerminal(deployment.status)) return yield* asConflict(notCancellable(deployment.deploymentId, deployment.status))
    const commandId = body.commandId ?? newCommandId()
    yield* publishCommand({
      type: "CancelDeployment",
      commandId,
      projectId: deployment.projectId,
      deploymentId: deployment.deploymentId
    })
    return {
      commandId,
      projectId: deployment.projectId,
      deploymentId: deployment.deploymentId,
      status: "accepted" as const,
      links: links(deployment.projectId, deployment.deploymentId)
    }
  }).pipe(Effect.catchTag("PayloadTooLarge", tooLarge))

const decodeCreateProject = decodeBody(CreateProjectRequest)
const decodeDeploy = decodeBody(DeployRequest)
const decodeRollback = decodeBody(RollbackRequest)
const decodePromote = decodeBody(PromoteRequest)
const decodeCancel = decodeBody(CancelRequest, { optional: true })

/** The project with its quarantine, when the orchestrator has one (best effort: KV read with a deadline). */
const withQuarantine = (quarantine: Effect.Effect<KV>, project: ProjectView) =>
  Effect.flatMap(quarantine, (kv) => quarantineOf(kv, project.projectId)).pipe(
    Effect.timeout(Duration.seconds(1)),
    Effect.map(Option.match({
      onNone: () => project,
      onSome: (entry): ProjectView => ({
        ...project,
        unavailable: { reason: entry.reason, since: new Date(entry.since), ...(entry.seq === undefined ? {} : { seq: entry.seq }) }
      })
    })),
    Effect.orElseSucceed(() => project)
  )

export const ProjectsLive = HttpApiBuilder.group(BerthApi, "projects", (handlers) =>
  Effect.gen(function*() {
  const secrets = yield* Secrets
  // Opened in the background: the orchestrator creates the bucket, and the API does not wait for it.
  const quarantine = yield* openInBackground(openQuarantineBucket(yield* Nats))
  // The orchestrator rejects any other apex too; the API says so at once (400), publishing nothing.
  const apexDomains = yield* Effect.orDie(apexDomainsConfig) // a bad list stops the API at start, naming the variable
  return handlers
    .handle("listProjects", () =>
      Effect.flatMap(authorizeRole("read"), (caller) => readModel(listProjects(caller.workspace))))
    .handleRaw("createProject", ({ request }) =>
      Effect.gen(function*() {
        yield* authorizeRole("deploy")
        const { commandId: requestedCommandId, ...fields } = yield* decodeCreateProject(request)
        yield* authorize("deploy", fields.workspace)
        // The decider's own rules, answered at once (400/409) instead of published to be rejected.
        const environments = environmentsIssue(fields.environments)
        if (environments !== undefined) return yield* asBadRequest(environments)
        const apex = apexIssue(fields.apexDomain, apexDomains)
        if (apex !== undefined) return yield* new BadRequest({ detail: apex })
        if (Option.isSome(yield* readModel(getProject(fields.projectId)))) return yield* asConflict(projectExists(fields.projectId))
        const command: CreateProject = { type: "CreateProject", commandId: requestedCommandId ?? newCommandId(), ...fields }
        yield* checkPublishable(command)
        yield* publishCommand(command)
        return {
          commandId: command.commandId,
          projectId: command.projectId,
          status: "accepted" as const,
          links: projectLinks(command.projectId)
        }
      }).pipe(Effect.catchTag("PayloadTooLarge", tooLarge)))
    .handle("getProject", ({ path }) =>
      projectOrNotFound(path.projectId).pipe(
        Effect.tap((project) => authorize("read", project.workspace)),
        Effect.flatMap((project) => withQuarantine(quarantine, project))
      ))
    .handle("listDeployments", ({ path, urlParams }) =>
      authorizeProject("read", path.projectId).pipe(Effect.zipRight(listDeployments(path.projectId, { limit: urlParams.limit, cursor: urlParams.cursor }).pipe(
        Effect.catchTag("InvalidCursor", (e) => Effect.fail(new BadRequest({ detail: `invalid cursor: ${e.cursor}` }))),
        Effect.flatMap((page) => Option.isNone(page) ? Effect.fail(asNotFound(projectNotFound(path.projectId))) : Effect.succeed(page.value)),
        Effect.catchTag("DatabaseError", (error) => readModel(Effect.fail(error)))
      ))))
    .handle("listEvents", ({ path, urlParams }) =>
      authorizeProject("read", path.projectId).pipe(
        Effect.zipRight(listEvents(path.projectId, { limit: urlParams.limit, after: urlParams.after }).pipe(orNotFound(projectNotFound(path.projectId).message)))
      ))
    .handleRaw("deploy", ({ path, request }) =>
      Effect.gen(function*() {
        yield* authorizeRole("deploy")
        const project = yield* projectOrNotFound(path.projectId)
        yield* authorize("deploy", project.workspace)
        const { deploymentId: requestedId, commandId: requestedCommandId, ...fields } = yield* decodeDeploy(request)
        if (!project.environments.some((environment) => environment.environmentId === fields.environmentId)) {
          return yield* asNotFound(environmentNotFound(fields.environmentId, project.workspace))
        }
        // Deployment ids are unique within a project (another project may use the same id: tenant isolation).
        if (requestedId !== undefined && Option.isSome(yield* readModel(getDeploymentRef(project.projectId, requestedId)))) {
          return yield* asConflict(deploymentExists(requestedId))
        }
        // Sealed before anything leaves the API: BERTH_COMMANDS never holds the cleartext. The size
        // limit then applies to the command as published, sealed values included.
        const { env, ...rest } = fields
        const command: Deploy = {
          type: "Deploy",
          commandId: requestedCommandId ?? newCommandId(),
          projectId: project.projectId,
          deploymentId: requestedId ?? newDeploymentId(),
          ...rest,
          ...(env === undefined
            ? {}
            : { env: yield* secrets.sealEnv(project.projectId, env).pipe(Effect.mapError((error) => new BadRequest({ detail: error.message }))) })
        }
        yield* checkPublishable(command)
        yield* publishCommand(command)
        return {
          commandId: command.commandId,
          projectId: command.projectId,
          deploymentId: command.deploymentId,
          status: "accepted" as const,
          links: links(command.projectId, command.deploymentId)
        }
      }).pipe(Effect.catchTag("PayloadTooLarge", tooLarge)))
    .handleRaw("rollback", ({ path, request }) =>
      Effect.gen(function*() {
        yield* authorizeRole("deploy")
        const project = yield* projectOrNotFound(path.projectId)
        yield* authorize("deploy", project.workspace)
        const body = yield* decodeRollback(request)
        const sourceId = body.sourceDeploymentId ?? project.liveDeploymentId
        if (sourceId === null) return yield* new BadRequest({ detail: "project has no live deployment" })
        // The domain's checks, in Unkey's order and with its messages: different ids (before any
        // lookup), then the source exists, then the target (in this project: another's is unknown).
        const ids = rollbackIdsIssue(sourceId, body.targetDeploymentId)
        if (ids !== undefined) return yield* rejected(ids)
        const [sourceRef, targetRef] = yield* readModel(Effect.all(
          [getDeploymentRef(project.projectId, sourceId), getDeploymentRef(project.projectId, body.targetDeploymentId)],
          { concurrency: 2 }
        ))
        const found = rollbackDeployments(sourceId, body.targetDeploymentId, (id) =>
          Option.getOrUndefined(id === sourceId ? sourceRef : targetRef))
        if (Either.isLeft(found)) return yield* rejected(found.left)
        const target = found.right.target
        const commandId = body.commandId ?? newCommandId()
        yield* publishCommand({
          type: "Rollback",
          commandId,
          projectId: project.projectId,
          sourceDeploymentId: sourceId,
          targetDeploymentId: target.deploymentId
        })
        return {
          commandId,
          projectId: project.projectId,
          sourceDeploymentId: sourceId,
          targetDeploymentId: target.deploymentId,
          status: "accepted" as const,
          links: links(project.projectId, target.deploymentId)
        }
      }).pipe(Effect.catchTag("PayloadTooLarge", tooLarge)))
    .handleRaw("promote", ({ path, request }) =>
      Effect.gen(function*() {
        yield* authorizeRole("deploy")
        const project = yield* projectOrNotFound(path.projectId)
        yield* authorize("deploy", project.workspace)
        const body = yield* decodePromote(request)
        const deployment = yield* deploymentOf(project, body.deploymentId)
        const commandId = body.commandId ?? newCommandId()
        yield* publishCommand({ type: "Promote", commandId, projectId: project.projectId, deploymentId: deployment.deploymentId })
        return {
          commandId,
          projectId: project.projectId,
          deploymentId: deployment.deploymentId,
          status: "accepted" as const,
          links: links(project.projectId, deployment.deploymentId)
        }
      }).pipe(Effect.catchTag("PayloadTooLarge", tooLarge)))
    .handle("getProjectDeployment", ({ path }) =>
      authorizeProject("read", path.projectId).pipe(Effect.zipRight(deploymentView(path.projectId, path.deploymentId))))
    .handleRaw("cancelProjectDeployment", ({ path, request }) =>
      authorizeProject("deploy", path.projectId).pipe(
        Effect.zipRight(getDeploymentRef(path.projectId, path.deploymentId).pipe(orNotFound(deploymentNotFound(path.deploymentId).message))),
        Effect.flatMap((deployment) => cancelDeployment(deployment, request))
      ))
  })
)

export const DeploymentsLive = HttpApiBuilder.group(BerthApi, "deployments", (handlers) =>
  handlers
    .handle("getDeployment", ({ path }) =>
      Effect.gen(function*() {
        const caller = yield* authorizeRole("read")
        const projectId = yield* projectOfDeployment(path.deploymentId, caller.workspace)
        yield* authorizeProject("read", projectId)
        return yield* deploymentView(projectId, path.deploymentId)
      }))
    .handleRaw("cancelDeployment", ({ path, request }) =>
      Effect.gen(function*() {
        const caller = yield* authorizeRole("deploy")
        const projectId = yield* projectOfDeployment(path.deploymentId, caller.workspace)
        yield* authorizeProject("deploy", projectId)
        const deployment = yield* getDeploymentRef(projectId, path.deploymentId).pipe(orNotFound(deploymentNotFound(path.deploymentId).message))
        return yield* cancelDeployment(deployment, request)
      }))
)
