/**
 * How a batch of envelopes changes the read model, set-based: the rows the batch can touch are read
 * once (one select per table), every event is folded over them in memory in stream order, with exactly
 * the semantics of one SQL statement per effect (first go-live kept, a step's first end wins, domains
 * released only while still routed to the deployment, ...), and the outcome is written back with one
 * statement per table (a multi-row upsert from unnest, plus one delete where rows can go). The caller
 * owns the transaction, the checkpoint and the audit rows; OpenAPI document bytes are fetched beforehand.
 */
import type { EventOf, ProjectEvent, StepName } from "../domain/events.js"
import type { AppliedEnvelope, SpecContents } from "./applyEvent.js"
import type { TxSql } from "./Database.js"
import type { DeploymentRow } from "./rows.js"

interface ProjectRow {
  project_id: string
  workspace: string
  slug: string
  apex_domain: string
  default_branch: string
  openapi_path: string | null
  live_deployment_id: string | null
  rolled_back: boolean
  created_at: Date
  updated_at: Date
  version: number
}

interface EnvironmentRow {
  project_id: string
  environment_id: string
  slug: string
  kind: string
}


interface StepRow {
  deployment_id: string
  step: string
  started_at: Date
  ended_at: Date | null
  error: string | null
}

interface InstanceRow {
  deployment_id: string
  instance_id: string
  address: string
  status: string
  updated_at: Date
}

interface DomainRow {
  hostname: string
  project_id: string
  environment_id: string
  deployment_id: string
  sticky: string
  updated_at: Date
}

interface SpecRow {
  deployment_id: string
  path: string
  object_name: string
  content: Uint8Array | null
  size_bytes: number
  sha256: string
  captured_at: Date
}

interface LiveHistoryRow {
  project_id: string
  stream_seq: number
  at: Date
  from_deployment_id: string | null
  to_deployment_id: string
  reason: string
}

const key2 = (a: string, b: string): string => JSON.stringify([a, b])

/**
 * The rows of one table as the batch sees them: those read from the database, changed in place or
 * replaced by the fold; which to upsert (changed) and which to delete (read, then gone).
 */
class Table<R> {
  private readonly rows = new Map<string, R>()
  private readonly stored = new Map<string, R>()
  private readonly dirty = new Set<string>()
  private readonly groups = new Map<string, Set<string>>()

  constructor(private readonly keyOf: (row: R) => string, private readonly groupOf: (row: R) => string = keyOf) {}

  private index(key: string, row: R): void {
    const group = this.groupOf(row)
    const keys = this.groups.get(group)
    if (keys === undefined) this.groups.set(group, new Set([key]))
    else keys.add(key)
  }

  load(rows: Iterable<R>): void {
    for (const row of rows) {
      const key = this.keyOf(row)
      this.rows.set(key, row)
      this.stored.set(key, row)
      this.index(key, row)
    }
  }

  get(key: string): R | undefined {
    return this.rows.get(key)
  }

  /** Inserts or replaces a row; also call it after changing a row in place. */
  put(row: R): void {
    const key = this.keyOf(row)
    this.rows.set(key, row)
    this.dirty.add(key)
    this.index(key, row)
  }

  delete(key: string): void {
    const row = this.rows.get(key)
    if (row === undefined) return
    this.rows.delete(key)
    this.dirty.delete(key)
    this.groups.get(this.groupOf(row))?.delete(key)
  }

  /** The rows of a group (e.g. of one deployment), in insertion order. */
  group(group: string): Array<R> {
    return [...(this.groups.get(group) ?? [])].flatMap((key) => {
      const row = this.rows.get(key)
      return row === undefined ? [] : [row]
    })
  }

  upserts(): Array<R> {
    return [...this.dirty].flatMap((key) => {
      const row = this.rows.get(key)
      return row === undefined ? [] : [row]
    })
  }

  deletes(): Array<R> {
    return [...this.stored].flatMap(([key, row]) => (this.rows.has(key) ? [] : [row]))
  }
}

const cancelledByUser = "cancelled by user"

/** The read model's rows touched by one batch, and the fold of its events over them. */
export class BatchState {
  readonly projects = new Table<ProjectRow>((r) => r.project_id)
  readonly environments = new Table<EnvironmentRow>((r) => key2(r.project_id, r.environment_id))
  readonly deployments = new Table<DeploymentRow>((r) => r.deployment_id)
  readonly steps = new Table<StepRow>((r) => key2(r.deployment_id, r.step), (r) => r.deployment_id)
  readonly instances = new Table<InstanceRow>((r) => key2(r.deployment_id, r.instance_id), (r) => r.deployment_id)
  readonly domains = new Table<DomainRow>((r) => r.hostname)
  readonly specs = new Table<SpecRow>((r) => r.deployment_id)
  readonly liveHistory = new Table<LiveHistoryRow>((r) => key2(r.project_id, String(r.stream_seq)))

  constructor(private readonly specContents: SpecContents) {}

  private updateProject(projectId: string, f: (row: ProjectRow) => void): void {
    const row = this.projects.get(projectId)
    if (row === undefined) return
    f(row)
    this.projects.put(row)
  }

  private updateDeployment(deploymentId: string, f: (row: DeploymentRow) => void): void {
    const row = this.deployments.get(deploymentId)
    if (row === undefined) return
    f(row)
    this.deployments.put(row)
  }

  /** Starts a step unless it already started. */
  private startStep(deploymentId: string, step: StepName, at: Date): void {
    if (this.steps.get(key2(deploymentId, step)) !== undefined) return
    this.steps.put({ deployment_id: deploymentId, step, started_at: at, ended_at: null, error: null })
  }

  /** Ends a step (starting it at the same moment if it never started); the first end wins, a later error replaces. */
  private endStep(deploymentId: string, step: StepName, at: Date, error: string | null = null): void {
    const row = this.steps.get(key2(deploymentId, step))
    if (row === undefined) {
      this.steps.put({ deployment_id: deploymentId, step, started_at: at, ended_at: at, error })
      return
    }
    row.ended_at = row.ended_at ?? at
    row.error = error ?? row.error
    this.steps.put(row)
  }

  /** One envelope's effects, in order; then the project's version. */
  apply({ envelope, streamSeq }: AppliedEnvelope): void {
    const at = new Date(envelope.at)
    for (const event of envelope.events) this.event(envelope.projectId, event, at, streamSeq)
    this.updateProject(envelope.projectId, (p) => {
      p.version = streamSeq
      p.updated_at = at
    })
  }

  private event(projectId: string, event: ProjectEvent, at: Date, seq: number): void {
    switch (event.type) {
      case "ProjectCreated":
        return this.projectCreated(event, at, seq)
      case "DeploymentRequested":
        return this.deploymentRequested(projectId, event, at)
      case "DeploymentBuilding":
        // Sources are images or commands: building starts and ends at once, and Krane creation begins.
        this.updateDeployment(event.deploymentId, (d) => {
          d.status = "building"
          d.building_at = at
          d.updated_at = at
        })
        this.endStep(event.deploymentId, "build", at)
        return this.startStep(event.deploymentId, "krane-create", at)
      case "KraneDeploymentCreated":
        this.updateDeployment(event.deploymentId, (d) => {
          d.status = "deploying"
          d.deploying_at = at
          d.updated_at = at
        })
        this.endStep(event.deploymentId, "krane-create", at)
        return this.startStep(event.deploymentId, "await-instances", at)
      case "InstancesObserved":
        return this.instancesObserved(event, at)
      case "OpenApiSpecCaptured":
        return this.specCaptured(event, at)
      case "OpenApiSpecNotFound":
        this.endStep(event.deploymentId, "scrape-openapi", at)
        return this.startStep(event.deploymentId, "assign-domains", at)
      case "DomainsAssigned":
        return this.domainsAssigned(projectId, event, at)
      case "DeploymentReady":
        return this.updateDeployment(event.deploymentId, (d) => {
          d.status = "ready"
          d.ready_at = at
          d.updated_at = at
        })
      case "LiveSwitched":
        return this.liveSwitched(projectId, event, at, seq)
      case "DomainsSwitched":
        return this.domainsSwitched(event, at)
      case "RollbackCleared":
        return this.updateProject(projectId, (p) => {
          p.rolled_back = false
        })
      case "DeploymentFailed":
        this.updateDeployment(event.deploymentId, (d) => {
          d.status = "failed"
          d.updated_at = at
          d.failed_at = at
          d.failed_step = event.step
          d.failure_reason = event.reason
        })
        this.endStep(event.deploymentId, event.step, at, event.reason)
        // Berth cleans up a failed deployment at once (its Krane deployment, its hostnames).
        return this.startStep(event.deploymentId, "compensate", at)
      case "DeploymentCancelled":
        return this.deploymentCancelled(event, at)
      case "DeploymentCompensated":
        return this.deploymentCompensated(event, at)
      case "CommandRejected":
        return // audit only
    }
  }

  private projectCreated(e: EventOf<"ProjectCreated">, at: Date, seq: number): void {
    if (this.projects.get(e.projectId) === undefined) {
      this.projects.put({
        project_id: e.projectId,
        workspace: e.workspace,
        slug: e.slug,
        apex_domain: e.apexDomain,
        default_branch: e.defaultBranch,
        openapi_path: e.openApiPath ?? null,
        live_deployment_id: null,
        rolled_back: false,
        created_at: at,
        updated_at: at,
        version: seq
      })
    }
    for (const env of e.environments) {
      this.environments.put({ project_id: e.projectId, environment_id: env.id, slug: env.slug, kind: env.kind })
    }
  }

  private deploymentRequested(projectId: string, e: EventOf<"DeploymentRequested">, at: Date): void {
    if (this.deployments.get(e.deploymentId) !== undefined) return
    this.deployments.put({
      deployment_id: e.deploymentId,
      project_id: projectId,
      environment_id: e.environmentId,
      status: "pending",
      source: e.source,
      git_sha: e.git?.sha ?? null,
      git_branch: e.git?.branch ?? null,
      git_message: e.git?.message ?? null,
      replicas: e.replicas,
      port: e.port,
      failed_step: null,
      failure_reason: null,
      created_at: at,
      updated_at: at,
      building_at: null,
      deploying_at: null,
      ready_at: null,
      failed_at: null,
      cancelled_at: null,
      compensated_at: null
    })
  }

  /** The instance set is replaced; once every replica runs, await-instances ends and scrape-openapi starts. */
  private instancesObserved(e: EventOf<"InstancesObserved">, at: Date): void {
    for (const old of this.instances.group(e.deploymentId)) this.instances.delete(key2(old.deployment_id, old.instance_id))
    for (const instance of e.instances) {
      const existing = this.instances.get(key2(e.deploymentId, instance.id))
      if (existing === undefined) {
        this.instances.put({ deployment_id: e.deploymentId, instance_id: instance.id, address: instance.address, status: instance.status, updated_at: at })
      } else {
        existing.address = instance.address
        existing.status = instance.status
        this.instances.put(existing)
      }
    }
    if (!e.instances.every((instance) => instance.status === "RUNNING")) return
    const deployment = this.deployments.get(e.deploymentId)
    if (deployment === undefined || deployment.replicas > e.instances.length) return
    const awaiting = this.steps.get(key2(e.deploymentId, "await-instances"))
    if (awaiting !== undefined) {
      awaiting.ended_at = awaiting.ended_at ?? at
      this.steps.put(awaiting)
    }
    this.startStep(e.deploymentId, "scrape-openapi", at)
  }

  private specCaptured(e: EventOf<"OpenApiSpecCaptured">, at: Date): void {
    this.specs.put({
      deployment_id: e.deploymentId,
      path: e.path,
      object_name: e.objectName,
      content: this.specContents(e.objectName),
      size_bytes: e.sizeBytes,
      sha256: e.sha256,
      captured_at: at
    })
    this.endStep(e.deploymentId, "scrape-openapi", at)
    this.startStep(e.deploymentId, "assign-domains", at)
  }

  private domainsAssigned(projectId: string, e: EventOf<"DomainsAssigned">, at: Date): void {
    const deployment = this.deployments.get(e.deploymentId)
    if (deployment !== undefined) {
      for (const domain of e.domains) {
        this.domains.put({
          hostname: domain.hostname,
          project_id: projectId,
          environment_id: deployment.environment_id,
          deployment_id: deployment.deployment_id,
          sticky: domain.sticky,
          updated_at: at
        })
      }
    }
    this.endStep(e.deploymentId, "assign-domains", at)
  }

  /** Every move of the live pointer: the project row, the go-live step, and a live_history row. */
  private liveSwitched(projectId: string, e: EventOf<"LiveSwitched">, at: Date, seq: number): void {
    this.updateProject(projectId, (p) => {
      p.live_deployment_id = e.to
      p.rolled_back = e.reason === "rollback"
    })
    // go-live is recorded when the deployment first goes live (a later rollback to it keeps that record).
    this.endStep(e.to, "go-live", at)
    if (this.liveHistory.get(key2(projectId, String(seq))) === undefined) {
      this.liveHistory.put({ project_id: projectId, stream_seq: seq, at, from_deployment_id: e.from, to_deployment_id: e.to, reason: e.reason })
    }
  }

  /** A rollback or promote moved sticky hostnames (that the read model knows) to another deployment. */
  private domainsSwitched(e: EventOf<"DomainsSwitched">, at: Date): void {
    for (const domain of e.domains) {
      const row = this.domains.get(domain.hostname)
      if (row === undefined) continue
      row.deployment_id = e.toDeploymentId
      row.updated_at = at
      this.domains.put(row)
    }
  }

  /** The open step ends with the cancel (the named step is recorded even if it never started); compensation starts. */
  private deploymentCancelled(e: EventOf<"DeploymentCancelled">, at: Date): void {
    this.updateDeployment(e.deploymentId, (d) => {
      d.status = "cancelled"
      d.updated_at = at
      d.cancelled_at = at
      d.failed_step = e.step
      d.failure_reason = cancelledByUser
    })
    for (const step of this.steps.group(e.deploymentId)) {
      if (step.ended_at !== null) continue
      step.ended_at = at
      step.error = cancelledByUser
      this.steps.put(step)
    }
    if (this.steps.get(key2(e.deploymentId, e.step)) === undefined) {
      this.steps.put({ deployment_id: e.deploymentId, step: e.step, started_at: at, ended_at: at, error: cancelledByUser })
    }
    this.startStep(e.deploymentId, "compensate", at)
  }

  /**
   * Compensation finished: the compensate step ends (with the problem, if any), the hostnames it released
   * go (only those still routed to this deployment), and its instances are marked TERMINATED when the
   * Krane deployment was deleted (kept as they were otherwise: they may still run).
   */
  private deploymentCompensated(e: EventOf<"DeploymentCompensated">, at: Date): void {
    this.endStep(e.deploymentId, "compensate", at, e.problem ?? null)
    this.updateDeployment(e.deploymentId, (d) => {
      d.compensated_at = d.compensated_at ?? at
      d.updated_at = at
    })
    for (const hostname of e.releasedDomains) {
      if (this.domains.get(hostname)?.deployment_id === e.deploymentId) this.domains.delete(hostname)
    }
    if (e.kraneDeleted) {
      for (const instance of this.instances.group(e.deploymentId)) {
        instance.status = "TERMINATED"
        instance.updated_at = at
        this.instances.put(instance)
      }
    }
  }
}

/** What a batch can touch: its projects, deployments (and their steps and instances) and hostnames. */
const touched = (envelopes: ReadonlyArray<AppliedEnvelope>) => {
  const projectIds = new Set<string>()
  const deploymentIds = new Set<string>()
  const hostnames = new Set<string>()
  for (const { envelope } of envelopes) {
    projectIds.add(envelope.projectId)
    for (const event of envelope.events) {
      switch (event.type) {
        case "ProjectCreated":
          projectIds.add(event.projectId)
          break
        case "LiveSwitched":
          deploymentIds.add(event.to)
          break
        case "DomainsSwitched":
          for (const domain of event.domains) hostnames.add(domain.hostname)
          break
        case "DomainsAssigned":
          deploymentIds.add(event.deploymentId)
          for (const domain of event.domains) hostnames.add(domain.hostname)
          break
        case "DeploymentCompensated":
          deploymentIds.add(event.deploymentId)
          for (const hostname of event.releasedDomains) hostnames.add(hostname)
          break
        case "CommandRejected":
          break
        default:
          deploymentIds.add(event.deploymentId)
      }
    }
  }
  return { projectIds: [...projectIds], deploymentIds: [...deploymentIds], hostnames: [...hostnames] }
}

type Timestamp = string | null
const ts = (d: Date | null): Timestamp => (d === null ? null : d.toISOString())
/**
 * Parameter arrays are serialised by the type PostgreSQL describes for them, but a boolean array is
 * typed by its first element: booleans travel as text, cast in the select; jsonb travels as text too.
 */
const bool = (b: boolean): string => (b ? "t" : "f")

const none = Promise.resolve([])

/** Reads the rows `envelopes` can touch (one select per table, pipelined). */
const load = async (tx: TxSql, state: BatchState, envelopes: ReadonlyArray<AppliedEnvelope>): Promise<void> => {
  const { projectIds, deploymentIds, hostnames } = touched(envelopes)
  const [projects, deployments, steps, instances, domains] = await Promise.all([
    projectIds.length === 0 ? none : tx<Array<Omit<ProjectRow, "version"> & { version: string }>>`
      select project_id, workspace, slug, apex_domain, default_branch, openapi_path, live_deployment_id, rolled_back,
        created_at, updated_at, version::text
      from projects where project_id = any(${projectIds}::text[])`,
    deploymentIds.length === 0 ? none : tx<Array<DeploymentRow>>`
      select deployment_id, project_id, environment_id, status, source, git_sha, git_branch, git_message, replicas, port,
        failed_step, failure_reason, created_at, updated_at, building_at, deploying_at, ready_at, failed_at, cancelled_at, compensated_at
      from deployments where deployment_id = any(${deploymentIds}::text[])`,
    deploymentIds.length === 0 ? none : tx<Array<StepRow>>`
      select deployment_id, step, started_at, ended_at, error
      from deployment_steps where deployment_id = any(${deploymentIds}::text[])`,
    deploymentIds.length === 0 ? none : tx<Array<InstanceRow>>`
      select deployment_id, instance_id, address, status, updated_at
      from instances where deployment_id = any(${deploymentIds}::text[]) order by deployment_id, instance_id`,
    hostnames.length === 0 ? none : tx<Array<DomainRow>>`
      select hostname, project_id, environment_id, deployment_id, sticky, updated_at
      from domains where hostname = any(${hostnames}::text[])`
  ])
  state.projects.load(projects.map((p) => ({ ...p, version: Number(p.version) })))
  state.deployments.load(deployments)
  state.steps.load(steps)
  state.instances.load(instances)
  state.domains.load(domains)
}

/** One statement per table (and one delete where rows go): the batch's outcome. */
const writes = (tx: TxSql, state: BatchState) => {
  const statements = []
  const projects = state.projects.upserts()
  if (projects.length > 0) {
    statements.push(tx`
      insert into projects (project_id, workspace, slug, apex_domain, default_branch, openapi_path, live_deployment_id, rolled_back,
        created_at, updated_at, version)
      select p, w, s, ad, db, op, ld, rb::bool, ca, ua, v
      from unnest(${projects.map((r) => r.project_id)}::text[], ${projects.map((r) => r.workspace)}::text[],
        ${projects.map((r) => r.slug)}::text[], ${projects.map((r) => r.apex_domain)}::text[],
        ${projects.map((r) => r.default_branch)}::text[], ${projects.map((r) => r.openapi_path)}::text[],
        ${projects.map((r) => r.live_deployment_id)}::text[], ${projects.map((r) => bool(r.rolled_back))}::text[],
        ${projects.map((r) => ts(r.created_at))}::timestamptz[], ${projects.map((r) => ts(r.updated_at))}::timestamptz[],
        ${projects.map((r) => r.version)}::bigint[]) as u(p, w, s, ad, db, op, ld, rb, ca, ua, v)
      on conflict (project_id) do update set workspace = excluded.workspace, slug = excluded.slug, apex_domain = excluded.apex_domain,
        default_branch = excluded.default_branch, openapi_path = excluded.openapi_path, live_deployment_id = excluded.live_deployment_id,
        rolled_back = excluded.rolled_back, created_at = excluded.created_at, updated_at = excluded.updated_at, version = excluded.version`)
  }
  const environments = state.environments.upserts()
  if (environments.length > 0) {
    statements.push(tx`
      insert into environments (environment_id, project_id, slug, kind)
      select * from unnest(${environments.map((r) => r.environment_id)}::text[], ${environments.map((r) => r.project_id)}::text[],
        ${environments.map((r) => r.slug)}::text[], ${environments.map((r) => r.kind)}::text[])
      on conflict (project_id, environment_id) do update set slug = excluded.slug, kind = excluded.kind`)
  }
  const deployments = state.deployments.upserts()
  if (deployments.length > 0) {
    const d = deployments
    statements.push(tx`
      insert into deployments (deployment_id, project_id, environment_id, status, source, git_sha, git_branch, git_message, replicas, port,
        failed_step, failure_reason, created_at, updated_at, building_at, deploying_at, ready_at, failed_at, cancelled_at, compensated_at)
      select d, p, e, s, j::jsonb, gs, gb, gm, r, po, fs, fr, ca, ua, ba, da, ra, fa, cc, co
      from unnest(${d.map((r) => r.deployment_id)}::text[], ${d.map((r) => r.project_id)}::text[],
        ${d.map((r) => r.environment_id)}::text[], ${d.map((r) => r.status)}::text[], ${d.map((r) => JSON.stringify(r.source))}::text[],
        ${d.map((r) => r.git_sha)}::text[], ${d.map((r) => r.git_branch)}::text[], ${d.map((r) => r.git_message)}::text[],
        ${d.map((r) => r.replicas)}::int[], ${d.map((r) => r.port)}::int[], ${d.map((r) => r.failed_step)}::text[],
        ${d.map((r) => r.failure_reason)}::text[], ${d.map((r) => ts(r.created_at))}::timestamptz[],
        ${d.map((r) => ts(r.updated_at))}::timestamptz[], ${d.map((r) => ts(r.building_at))}::timestamptz[],
        ${d.map((r) => ts(r.deploying_at))}::timestamptz[], ${d.map((r) => ts(r.ready_at))}::timestamptz[],
        ${d.map((r) => ts(r.failed_at))}::timestamptz[], ${d.map((r) => ts(r.cancelled_at))}::timestamptz[],
        ${d.map((r) => ts(r.compensated_at))}::timestamptz[]) as u(d, p, e, s, j, gs, gb, gm, r, po, fs, fr, ca, ua, ba, da, ra, fa, cc, co)
      on conflict (deployment_id) do update set project_id = excluded.project_id, environment_id = excluded.environment_id,
        status = excluded.status, source = excluded.source, git_sha = excluded.git_sha, git_branch = excluded.git_branch,
        git_message = excluded.git_message, replicas = excluded.replicas, port = excluded.port, failed_step = excluded.failed_step,
        failure_reason = excluded.failure_reason, created_at = excluded.created_at, updated_at = excluded.updated_at,
        building_at = excluded.building_at, deploying_at = excluded.deploying_at, ready_at = excluded.ready_at,
        failed_at = excluded.failed_at, cancelled_at = excluded.cancelled_at, compensated_at = excluded.compensated_at`)
  }
  const steps = state.steps.upserts()
  if (steps.length > 0) {
    statements.push(tx`
      insert into deployment_steps (deployment_id, step, started_at, ended_at, error)
      select * from unnest(${steps.map((r) => r.deployment_id)}::text[], ${steps.map((r) => r.step)}::text[],
        ${steps.map((r) => ts(r.started_at))}::timestamptz[], ${steps.map((r) => ts(r.ended_at))}::timestamptz[],
        ${steps.map((r) => r.error)}::text[])
      on conflict (deployment_id, step) do update set started_at = excluded.started_at, ended_at = excluded.ended_at, error = excluded.error`)
  }
  const goneInstances = state.instances.deletes()
  if (goneInstances.length > 0) {
    statements.push(tx`
      delete from instances i
      using unnest(${goneInstances.map((r) => r.deployment_id)}::text[], ${goneInstances.map((r) => r.instance_id)}::text[]) as u(d, n)
      where i.deployment_id = u.d and i.instance_id = u.n`)
  }
  const instances = state.instances.upserts()
  if (instances.length > 0) {
    statements.push(tx`
      insert into instances (instance_id, deployment_id, address, status, updated_at)
      select * from unnest(${instances.map((r) => r.instance_id)}::text[], ${instances.map((r) => r.deployment_id)}::text[],
        ${instances.map((r) => r.address)}::text[], ${instances.map((r) => r.status)}::text[],
        ${instances.map((r) => ts(r.updated_at))}::timestamptz[])
      on conflict (deployment_id, instance_id) do update set address = excluded.address, status = excluded.status,
        updated_at = excluded.updated_at`)
  }
  const goneDomains = state.domains.deletes()
  if (goneDomains.length > 0) {
    statements.push(tx`delete from domains where hostname = any(${goneDomains.map((r) => r.hostname)}::text[])`)
  }
  const domains = state.domains.upserts()
  if (domains.length > 0) {
    statements.push(tx`
      insert into domains (hostname, project_id, environment_id, deployment_id, sticky, updated_at)
      select * from unnest(${domains.map((r) => r.hostname)}::text[], ${domains.map((r) => r.project_id)}::text[],
        ${domains.map((r) => r.environment_id)}::text[], ${domains.map((r) => r.deployment_id)}::text[],
        ${domains.map((r) => r.sticky)}::text[], ${domains.map((r) => ts(r.updated_at))}::timestamptz[])
      on conflict (hostname) do update set project_id = excluded.project_id, environment_id = excluded.environment_id,
        deployment_id = excluded.deployment_id, sticky = excluded.sticky, updated_at = excluded.updated_at`)
  }
  const specs = state.specs.upserts()
  if (specs.length > 0) {
    statements.push(tx`
      insert into openapi_specs (deployment_id, path, object_name, content, size_bytes, sha256, captured_at)
      select d, p, o, decode(c, 'hex'), s, h, a
      from unnest(${specs.map((r) => r.deployment_id)}::text[], ${specs.map((r) => r.path)}::text[],
        ${specs.map((r) => r.object_name)}::text[],
        ${specs.map((r) => (r.content === null ? null : Buffer.from(r.content).toString("hex")))}::text[],
        ${specs.map((r) => r.size_bytes)}::int[], ${specs.map((r) => r.sha256)}::text[],
        ${specs.map((r) => ts(r.captured_at))}::timestamptz[]) as u(d, p, o, c, s, h, a)
      on conflict (deployment_id) do update set path = excluded.path, object_name = excluded.object_name, content = excluded.content,
        size_bytes = excluded.size_bytes, sha256 = excluded.sha256, captured_at = excluded.captured_at`)
  }
  const history = state.liveHistory.upserts()
  if (history.length > 0) {
    statements.push(tx`
      insert into live_history (project_id, stream_seq, at, from_deployment_id, to_deployment_id, reason)
      select * from unnest(${history.map((r) => r.project_id)}::text[], ${history.map((r) => r.stream_seq)}::bigint[],
        ${history.map((r) => ts(r.at))}::timestamptz[], ${history.map((r) => r.from_deployment_id)}::text[],
        ${history.map((r) => r.to_deployment_id)}::text[], ${history.map((r) => r.reason)}::text[])
      on conflict (project_id, stream_seq) do nothing`)
  }
  return statements
}

/** The rows `envelopes` can touch, read (one select per table, pipelined), for `foldBatch`. */
export const loadBatch = async (tx: TxSql, envelopes: ReadonlyArray<AppliedEnvelope>, specs: SpecContents): Promise<BatchState> => {
  const state = new BatchState(specs)
  if (envelopes.length > 0) await load(tx, state, envelopes)
  return state
}

/**
 * Folds `envelopes` (in stream order; a subset of those loaded) over the loaded rows and returns the
 * statements writing the outcome, not yet sent: the caller pipelines them in its transaction, in order.
 */
export const foldBatch = (tx: TxSql, state: BatchState, envelopes: ReadonlyArray<AppliedEnvelope>) => {
  for (const envelope of envelopes) state.apply(envelope)
  return writes(tx, state)
}
