/**
 * Read-model queries for the status API. Rows are mapped into the view types of views.ts; a missing
 * project or deployment is `Option.none()`.
 */
import { Effect, Option, Schema } from "effect"
import { DeploySource } from "../domain/commands.js"
import type { DeploymentStatus } from "../domain/state.js"
import { Database, type DatabaseError, query } from "./Database.js"
import type { AuditEventView, DeploymentPage, DeploymentSummary, DeploymentView, EventPage, LiveSwitchView, ProjectList, ProjectView, StepView } from "./views.js"
import type { DeploymentRow, DomainRow, EnvironmentRow, InstanceRow, LiveHistoryRow, ProjectRow, SpecRow, StepRow } from "./rows.js"
import { byStepOrder } from "../domain/timeline.js"
import { displayPayload } from "../domain/secrets.js"

export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", { cursor: Schema.String }) {}

/** How many moves of the live pointer getProject returns. */
export const liveHistoryLength = 20

/** `version` (bigint) is selected as text. */
type ProjectQueryRow = Omit<ProjectRow, "version"> & { version: string }

interface DeploymentQueryRow extends Omit<DeploymentRow, "status"> {
  status: DeploymentStatus
  is_live: boolean
}

/** `stream_seq` (bigint) is selected as text. */
type LiveHistoryQueryRow = Omit<LiveHistoryRow, "project_id" | "stream_seq" | "reason"> & {
  stream_seq: string
  reason: LiveSwitchView["reason"]
}

const gitOf = (row: Pick<DeploymentRow, "git_sha" | "git_branch" | "git_message">) =>
  row.git_sha === null ? null : { sha: row.git_sha, branch: row.git_branch, message: row.git_message }

export const getProject = (projectId: string): Effect.Effect<Option.Option<ProjectView>, DatabaseError, Database> =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const rows = yield* query("get project", () => sql<Array<ProjectQueryRow>>`
      select project_id, workspace, slug, apex_domain, default_branch, openapi_path, live_deployment_id, rolled_back,
             version::text, created_at, updated_at
        from projects where project_id = ${projectId}`)
    const row = rows[0]
    if (row === undefined) return Option.none()
    const [environments, history] = yield* Effect.all([
      query("get environments", () => sql<Array<Pick<EnvironmentRow, "environment_id" | "slug"> & { kind: "production" | "preview" }>>`
        select environment_id, slug, kind from environments where project_id = ${projectId}
         order by kind = 'production' desc, slug, environment_id`),
      query("get live history", () => sql<Array<LiveHistoryQueryRow>>`
        select stream_seq::text, at, from_deployment_id, to_deployment_id, reason from live_history
         where project_id = ${projectId} order by live_history.stream_seq desc limit ${liveHistoryLength}`)
    ], { concurrency: "unbounded" })
    return Option.some({
      projectId: row.project_id,
      workspace: row.workspace,
      slug: row.slug,
      apexDomain: row.apex_domain,
      defaultBranch: row.default_branch,
      openApiPath: row.openapi_path,
      environments: environments.map((e) => ({ environmentId: e.environment_id, slug: e.slug, kind: e.kind })),
      liveDeploymentId: row.live_deployment_id,
      rolledBack: row.rolled_back,
      liveHistory: history.map((h): LiveSwitchView => ({
        version: Number(h.stream_seq),
        at: h.at,
        fromDeploymentId: h.from_deployment_id,
        toDeploymentId: h.to_deployment_id,
        reason: h.reason
      })),
      version: Number(row.version),
      createdAt: row.created_at,
      updatedAt: row.updated_at
    })
  }).pipe(Effect.withSpan("queries.getProject", { attributes: { projectId } }))

/** How many projects listProjects answers at most. */
export const projectListLimit = 1000

/** The projects of `workspace` (null: every workspace), by workspace and id, at most projectListLimit. */
export const listProjects = (workspace: string | null): Effect.Effect<ProjectList, DatabaseError, Database> =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const rows = yield* query("list projects", () => sql<Array<Pick<ProjectQueryRow, "project_id" | "workspace" | "slug" | "apex_domain" | "live_deployment_id" | "updated_at">>>`
      select project_id, workspace, slug, apex_domain, live_deployment_id, updated_at from projects
       ${workspace === null ? sql`` : sql`where workspace = ${workspace}`}
       order by workspace, project_id limit ${projectListLimit}`)
    return {
      projects: rows.map((row) => ({
        projectId: row.project_id,
        workspace: row.workspace,
        slug: row.slug,
        apexDomain: row.apex_domain,
        liveDeploymentId: row.live_deployment_id,
        updatedAt: row.updated_at
      }))
    }
  }).pipe(Effect.withSpan("queries.listProjects"))

/** The workspace a project belongs to; none when the read model does not know the project. */
export const getProjectWorkspace = (projectId: string): Effect.Effect<Option.Option<string>, DatabaseError, Database> =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const rows = yield* query("get project workspace", () => sql<Array<{ workspace: string }>>`
      select workspace from projects where project_id = ${projectId}`)
    return Option.fromNullable(rows[0]?.workspace)
  })

/** Keyset cursor: the (created_at, deployment_id) of the last row of the previous page. */
const encodeCursor = (row: { created_at: Date; deployment_id: string }): string =>
  Buffer.from(JSON.stringify([row.created_at.getTime(), row.deployment_id])).toString("base64url")

const CursorJson = Schema.parseJson(Schema.Tuple(Schema.Number, Schema.String))

const decodeCursor = (cursor: string): Effect.Effect<{ readonly at: Date; readonly id: string }, InvalidCursor> =>
  Schema.decodeUnknown(CursorJson)(Buffer.from(cursor, "base64url").toString("utf8")).pipe(
    Effect.map(([at, id]) => ({ at: new Date(at), id })),
    Effect.mapError(() => new InvalidCursor({ cursor }))
  )

export interface ListDeploymentsOptions {
  /** Page size, 1..100; default 20. */
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/** A project's deployments, newest first; `Option.none()` when the project does not exist. */
export const listDeployments = (
  projectId: string,
  options: ListDeploymentsOptions = {}
): Effect.Effect<Option.Option<DeploymentPage>, DatabaseError | InvalidCursor, Database> =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? 20), 1), 100)
    const after = options.cursor === undefined ? undefined : yield* decodeCursor(options.cursor)
    const project = yield* query("get project live", () => sql<Array<{ live_deployment_id: string | null }>>`
      select live_deployment_id from projects where project_id = ${projectId}`)
    const live = project[0]
    if (live === undefined) return Option.none()
    const rows = yield* query("list deployments", () => sql<Array<Omit<DeploymentQueryRow, "is_live">>>`
      select * from deployments
       where project_id = ${projectId}
         ${after === undefined ? sql`` : sql`and (created_at, deployment_id) < (${after.at}, ${after.id})`}
       order by created_at desc, deployment_id desc
       limit ${limit + 1}`)
    const page = rows.slice(0, limit)
    const last = page[page.length - 1]
    const deployments: Array<DeploymentSummary> = page.map((row) => ({
      deploymentId: row.deployment_id,
      projectId: row.project_id,
      environmentId: row.environment_id,
      status: row.status,
      git: gitOf(row),
      isLive: row.deployment_id === live.live_deployment_id,
      createdAt: row.created_at,
      updatedAt: row.updated_at
    }))
    return Option.some({ deployments, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : null })
  }).pipe(Effect.withSpan("queries.listDeployments", { attributes: { projectId } }))

export interface ListEventsOptions {
  /** Events per page, 1..500; default 50. A page never splits an envelope (see listEvents). */
  readonly limit?: number | undefined
  /** Stream sequence: only events of later envelopes. */
  readonly after?: number | undefined
}

interface AuditRowOut {
  stream_seq: string
  idx: number
  event_type: string
  command_id: string | null
  actor: string | null
  at: Date
  payload: unknown
}

const auditView = (row: AuditRowOut): AuditEventView => ({
  streamSeq: Number(row.stream_seq),
  index: row.idx,
  type: row.event_type,
  commandId: row.command_id,
  actor: row.actor,
  at: row.at,
  // Rows written before env values were sealed may hold cleartext: shown as keys and "redacted".
  payload: displayPayload(row.payload)
})

/**
 * A project's audit trail, oldest first, after stream sequence `after`. Pages end on an envelope
 * boundary, so `nextCursor` (the last stream sequence on the page) is a safe `after`: when the limit
 * falls inside an envelope the page stops before it, or, when that envelope alone exceeds the limit,
 * holds all of it. `Option.none()` when nothing is known about the project (no project row and no
 * events: a command rejected because its project does not exist still shows here).
 */
export const listEvents = (
  projectId: string,
  options: ListEventsOptions = {}
): Effect.Effect<Option.Option<EventPage>, DatabaseError, Database> =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? 50), 1), 500)
    const after = Math.max(Math.trunc(options.after ?? 0), 0)
    const known = yield* query("project known", () => sql<Array<{ known: boolean }>>`
      select exists (select 1 from projects where project_id = ${projectId})
          or exists (select 1 from audit_events where project_id = ${projectId}) as known`)
    if (known[0]?.known !== true) return Option.none()
    const rows = yield* query("list events", () => sql<Array<AuditRowOut>>`
      select stream_seq::text, idx, event_type, command_id, actor, at, payload from audit_events
       where project_id = ${projectId} and stream_seq > ${after}
       order by audit_events.stream_seq, idx
       limit ${limit + 1}`)
    const beyond = rows[limit]
    if (beyond === undefined) return Option.some({ events: rows.map(auditView), nextCursor: null })
    // More rows exist: drop the envelope the limit cut into, unless it is the only one on the page.
    const whole = rows.slice(0, limit).filter((row) => row.stream_seq !== beyond.stream_seq)
    if (whole.length > 0) {
      return Option.some({ events: whole.map(auditView), nextCursor: Number(whole[whole.length - 1]?.stream_seq) })
    }
    const [envelope, later] = yield* Effect.all([
      query("list envelope events", () => sql<Array<AuditRowOut>>`
        select stream_seq::text, idx, event_type, command_id, actor, at, payload from audit_events
         where project_id = ${projectId} and stream_seq = ${beyond.stream_seq} order by idx`),
      query("events after envelope", () => sql<Array<{ more: boolean }>>`
        select exists (select 1 from audit_events where project_id = ${projectId} and stream_seq > ${beyond.stream_seq}) as more`)
    ], { concurrency: "unbounded" })
    return Option.some({ events: envelope.map(auditView), nextCursor: later[0]?.more === true ? Number(beyond.stream_seq) : null })
  }).pipe(Effect.withSpan("queries.listEvents", { attributes: { projectId } }))

/** What the command endpoints check a deployment against: its project and status. */
export interface DeploymentRef {
  readonly deploymentId: string
  readonly projectId: string
  readonly environmentId: string
  readonly status: DeploymentStatus
}

/** A deployment of one project (deployment ids are unique only within a project). */
export const getDeploymentRef = (
  projectId: string,
  deploymentId: string
): Effect.Effect<Option.Option<DeploymentRef>, DatabaseError, Database> =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const rows = yield* query("get deployment ref", () => sql<Array<Pick<DeploymentRow, "project_id" | "environment_id"> & { status: DeploymentStatus }>>`
      select project_id, environment_id, status from deployments where project_id = ${projectId} and deployment_id = ${deploymentId}`)
    const row = rows[0]
    return row === undefined
      ? Option.none()
      : Option.some({ deploymentId, projectId: row.project_id, environmentId: row.environment_id, status: row.status })
  })

/**
 * The projects that have a deployment with this id, sorted: what the unscoped routes
 * (`/v1/deployments/:id`) resolve an id with. More than one means the id is ambiguous. With a
 * workspace, only that workspace's projects count: another tenant's use of the id stays invisible.
 */
export const findDeploymentProjects = (
  deploymentId: string,
  workspace: string | null = null
): Effect.Effect<ReadonlyArray<string>, DatabaseError, Database> =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const rows = yield* query("find deployment projects", () => sql<Array<{ project_id: string }>>`
      select d.project_id from deployments d
        ${workspace === null ? sql`` : sql`join projects p on p.project_id = d.project_id and p.workspace = ${workspace}`}
       where d.deployment_id = ${deploymentId} order by d.project_id limit 10`)
    return rows.map((row) => row.project_id)
  })

const decodeSource = Schema.decodeUnknown(DeploySource)

export const getDeployment = (
  projectId: string,
  deploymentId: string
): Effect.Effect<Option.Option<DeploymentView>, DatabaseError, Database> =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const rows = yield* query("get deployment", () => sql<Array<DeploymentQueryRow>>`
      select d.*, coalesce(p.live_deployment_id = d.deployment_id, false) as is_live
        from deployments d left join projects p on p.project_id = d.project_id
       where d.project_id = ${projectId} and d.deployment_id = ${deploymentId}`)
    const row = rows[0]
    if (row === undefined) return Option.none()
    const [steps, instances, domains, specs] = yield* Effect.all([
      query("get steps", () => sql<Array<Omit<StepRow, "project_id" | "deployment_id">>>`
        select step, started_at, ended_at, error from deployment_steps where project_id = ${projectId} and deployment_id = ${deploymentId}`),
      query("get instances", () => sql<Array<Omit<InstanceRow, "project_id" | "deployment_id">>>`
        select instance_id, address, status, updated_at from instances
         where project_id = ${projectId} and deployment_id = ${deploymentId} order by instance_id`),
      query("get domains", () => sql<Array<Pick<DomainRow, "hostname" | "sticky" | "environment_id" | "updated_at">>>`
        select hostname, sticky, environment_id, updated_at from domains
         where project_id = ${projectId} and deployment_id = ${deploymentId} order by hostname`),
      query("get openapi", () => sql<Array<Pick<SpecRow, "path" | "size_bytes" | "sha256" | "captured_at"> & { stored: boolean }>>`
        select path, size_bytes, sha256, captured_at, content is not null as stored from openapi_specs
         where project_id = ${projectId} and deployment_id = ${deploymentId}`)
    ], { concurrency: "unbounded" })
    const source = yield* Effect.orDie(decodeSource(row.source))
    const timeline: Array<StepView> = steps
      .map((s) => ({ step: s.step, startedAt: s.started_at, endedAt: s.ended_at, error: s.error }))
      .sort(byStepOrder)
    const spec = specs[0]
    return Option.some({
      deploymentId: row.deployment_id,
      projectId: row.project_id,
      environmentId: row.environment_id,
      status: row.status,
      isLive: row.is_live,
      source,
      git: gitOf(row),
      replicas: row.replicas,
      port: row.port,
      failure: row.failed_step === null ? null : { step: row.failed_step, reason: row.failure_reason ?? "" },
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      buildingAt: row.building_at,
      deployingAt: row.deploying_at,
      readyAt: row.ready_at,
      failedAt: row.failed_at,
      cancelledAt: row.cancelled_at,
      compensatedAt: row.compensated_at,
      steps: timeline,
      instances: instances.map((i) => ({ instanceId: i.instance_id, address: i.address, status: i.status, updatedAt: i.updated_at })),
      domains: domains.map((d) => ({ hostname: d.hostname, sticky: d.sticky, environmentId: d.environment_id, updatedAt: d.updated_at })),
      openApiCaptured: spec !== undefined,
      openApi: spec === undefined
        ? null
        : { path: spec.path, sizeBytes: spec.size_bytes, sha256: spec.sha256, capturedAt: spec.captured_at, stored: spec.stored }
    })
  }).pipe(Effect.withSpan("queries.getDeployment", { attributes: { projectId, deploymentId } }))

/** The stored OpenAPI document of a deployment, if captured and present. */
export const getOpenApiDocument = (
  projectId: string,
  deploymentId: string
): Effect.Effect<Option.Option<Uint8Array>, DatabaseError, Database> =>
  Effect.gen(function*() {
    const { sql } = yield* Database
    const rows = yield* query("get openapi document", () => sql<Array<{ content: Buffer | null }>>`
      select content from openapi_specs where project_id = ${projectId} and deployment_id = ${deploymentId}`)
    return Option.fromNullable(rows[0]?.content ?? null).pipe(Option.map((b) => new Uint8Array(b)))
  })
