/**
 * How batches of envelopes change the read model, set-based. A `ProjectionState` lives as long as one
 * projector session and keeps the rows recent batches touched: before a batch, the rows it can touch
 * that the state does not know yet are read (one select per table); every event is folded over the
 * rows in memory in stream order, with exactly the semantics of one SQL statement per effect (first
 * go-live kept, a step's first end wins, domains released only while still routed to the deployment,
 * ...); then the outcome becomes a few statements per table: one insert of the new rows, one update of
 * the rows the fold changed (only the columns it can change), one delete where rows can go; rows it did
 * not touch are not written. Parameters are array literals, built when the batch is folded.
 *
 * The state is optimistic: it assumes every batch it wrote commits. The caller commits batches in
 * order, each guarded by the checkpoint the state expected, and drops the state when one fails; rows
 * are only forgotten (and read again when needed) once the batch that last touched them committed, so a
 * read never misses a write still in flight. The caller owns transactions, checkpoints and the audit
 * rows; OpenAPI document bytes are fetched beforehand.
 */
import type { EventOf, ProjectEvent, StepName } from "../domain/events.js"
import type { AppliedEnvelope, SpecContents } from "./applyEvent.js"
import type { Sql, Statement, TxSql } from "./Database.js"
import { bools, jsonValues, numbers, texts, times } from "./arrays.js"
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
  project_id: string
  deployment_id: string
  step: string
  started_at: Date
  ended_at: Date | null
  error: string | null
}

interface InstanceRow {
  project_id: string
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
  project_id: string
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

/** What a batch writes to one table; each row appears in at most one of the three. */
interface Changes<R> {
  readonly inserts: Array<R>
  readonly updates: Array<R>
  readonly deletes: Array<R>
}

/** One key of a table. */
interface Entry<R> {
  /** The row as the fold left it; undefined when absent or deleted. */
  row: R | undefined
  /** The row last written or read, undefined when PostgreSQL has none (once written batches commit). */
  stored: R | undefined
  /** Put or deleted since the last flush. */
  changed: boolean
}

/**
 * The rows of one table as the state knows them, by key within a group: a deployment's steps or
 * instances are one group; a table without groups uses the key as group and "" as key. Rows are
 * changed in place; `put` marks them for the next flush.
 */
class Table<R> {
  private readonly groups = new Map<string, Map<string, Entry<R>>>()
  private changed: Array<Entry<R>> = []

  constructor(private readonly groupOf: (row: R) => string, private readonly keyOf: (row: R) => string = () => "") {}

  private entry(group: string, key: string): Entry<R> {
    let entries = this.groups.get(group)
    if (entries === undefined) {
      entries = new Map()
      this.groups.set(group, entries)
    }
    let entry = entries.get(key)
    if (entry === undefined) {
      entry = { row: undefined, stored: undefined, changed: false }
      entries.set(key, entry)
    }
    return entry
  }

  load(rows: Iterable<R>): void {
    for (const row of rows) {
      const entry = this.entry(this.groupOf(row), this.keyOf(row))
      entry.row = row
      entry.stored = row
    }
  }

  get(group: string, key = ""): R | undefined {
    return this.groups.get(group)?.get(key)?.row
  }

  /** Inserts or replaces a row; also call it after changing a row in place. */
  put(row: R): void {
    const entry = this.entry(this.groupOf(row), this.keyOf(row))
    entry.row = row
    if (entry.changed) return
    entry.changed = true
    this.changed.push(entry)
  }

  delete(group: string, key = ""): void {
    const entry = this.groups.get(group)?.get(key)
    if (entry?.row === undefined) return
    entry.row = undefined
    if (entry.changed) return
    entry.changed = true
    this.changed.push(entry)
  }

  /** The rows of a group (e.g. of one deployment's steps). */
  group(group: string): Array<R> {
    const out: Array<R> = []
    for (const entry of this.groups.get(group)?.values() ?? []) if (entry.row !== undefined) out.push(entry.row)
    return out
  }

  /** The changes since the last call; what is stored then follows them. */
  flush(): Changes<R> {
    const changes: Changes<R> = { inserts: [], updates: [], deletes: [] }
    for (const entry of this.changed) {
      entry.changed = false
      if (entry.row === undefined) {
        if (entry.stored !== undefined) changes.deletes.push(entry.stored)
      } else if (entry.stored === undefined) {
        changes.inserts.push(entry.row)
      } else {
        changes.updates.push(entry.row)
      }
      entry.stored = entry.row
    }
    this.changed = []
    return changes
  }

  /** Forgets a group's rows (read again when needed). */
  forget(group: string): void {
    this.groups.delete(group)
  }
}

/** Rows a batch only adds or overwrites, never read back from PostgreSQL: upserted, then dropped. */
class Upserts<R> {
  private readonly rows = new Map<string, R>()

  constructor(private readonly keyOf: (row: R) => string) {}

  get(key: string): R | undefined {
    return this.rows.get(key)
  }

  put(row: R): void {
    this.rows.set(this.keyOf(row), row)
  }

  flush(): Array<R> {
    const rows = [...this.rows.values()]
    this.rows.clear()
    return rows
  }
}

/** Keys of rows only upserted. Text values never hold NUL (PostgreSQL rejects it): the pair is unambiguous. */
const key2 = (a: string, b: string): string => `${a}\u0000${b}`

const cancelledByUser = "cancelled by user"

/** When each key (project, deployment with its steps and instances, hostname) was last touched, by batch number. */
type Touched = Map<string, number>

/** The read model's rows known to one projector session, and the fold of events over them. */
export class ProjectionState {
  readonly projects = new Table<ProjectRow>((r) => r.project_id)
  readonly environments = new Upserts<EnvironmentRow>((r) => key2(r.project_id, r.environment_id))
  // Deployment ids are unique only within a project: every deployment-keyed row is keyed by both.
  readonly deployments = new Table<DeploymentRow>((r) => key2(r.project_id, r.deployment_id))
  readonly steps = new Table<StepRow>((r) => key2(r.project_id, r.deployment_id), (r) => r.step)
  readonly instances = new Table<InstanceRow>((r) => key2(r.project_id, r.deployment_id), (r) => r.instance_id)
  readonly domains = new Table<DomainRow>((r) => r.hostname)
  readonly specs = new Upserts<SpecRow>((r) => key2(r.project_id, r.deployment_id))
  readonly liveHistory = new Upserts<LiveHistoryRow>((r) => key2(r.project_id, String(r.stream_seq)))

  /** Keys whose rows (or their absence) the state knows, with the batch that last touched them. */
  private readonly knownProjects: Touched = new Map()
  private readonly knownDeployments: Touched = new Map()
  private readonly knownHostnames: Touched = new Map()
  private specContents: SpecContents = noSpecs

  /**
   * Reads the rows `envelopes` can touch that the state does not know yet (one select per table,
   * pipelined), then records batch number `batch` as the last to touch each of their keys. If this
   * fails, drop the state.
   */
  async load(sql: Sql | TxSql, envelopes: ReadonlyArray<AppliedEnvelope>, batch: number): Promise<void> {
    const { projectIds, deploymentKeys, hostnames } = touched(envelopes)
    const unknownProjects = projectIds.filter((id) => !this.knownProjects.has(id))
    const unknown = deploymentKeys.filter(([projectId, deploymentId]) => !this.knownDeployments.has(key2(projectId, deploymentId)))
    const unknownDeployments = unknown.map(([, deploymentId]) => deploymentId)
    const unknownOwners = unknown.map(([projectId]) => projectId)
    // A fresh fragment per query: (project, deployment) pairs, deployment ids being unique only per project.
    const keysOf = () => sql`select * from unnest(${unknownOwners}::text[], ${unknownDeployments}::text[])`
    const unknownHostnames = hostnames.filter((hostname) => !this.knownHostnames.has(hostname))
    const [projects, deployments, steps, instances, domains] = await Promise.all([
      unknownProjects.length === 0 ? none : sql<Array<Omit<ProjectRow, "version"> & { version: string }>>`
        select project_id, workspace, slug, apex_domain, default_branch, openapi_path, live_deployment_id, rolled_back,
          created_at, updated_at, version::text
        from projects where project_id = any(${unknownProjects}::text[])`,
      unknownDeployments.length === 0 ? none : sql<Array<DeploymentRow>>`
        select deployment_id, project_id, environment_id, status, source, git_sha, git_branch, git_message, replicas, port,
          failed_step, failure_reason, created_at, updated_at, building_at, deploying_at, ready_at, failed_at, cancelled_at, compensated_at
        from deployments where (project_id, deployment_id) in (${keysOf()})`,
      unknownDeployments.length === 0 ? none : sql<Array<StepRow>>`
        select project_id, deployment_id, step, started_at, ended_at, error
        from deployment_steps where (project_id, deployment_id) in (${keysOf()})`,
      unknownDeployments.length === 0 ? none : sql<Array<InstanceRow>>`
        select project_id, deployment_id, instance_id, address, status, updated_at
        from instances where (project_id, deployment_id) in (${keysOf()}) order by project_id, deployment_id, instance_id`,
      unknownHostnames.length === 0 ? none : sql<Array<DomainRow>>`
        select hostname, project_id, environment_id, deployment_id, sticky, updated_at
        from domains where hostname = any(${unknownHostnames}::text[])`
    ])
    this.projects.load(projects.map((p) => ({ ...p, version: Number(p.version) })))
    this.deployments.load(deployments)
    this.steps.load(steps)
    this.instances.load(instances)
    this.domains.load(domains)
    for (const id of projectIds) this.knownProjects.set(id, batch)
    for (const [projectId, deploymentId] of deploymentKeys) this.knownDeployments.set(key2(projectId, deploymentId), batch)
    for (const hostname of hostnames) this.knownHostnames.set(hostname, batch)
  }

  /** Folds one envelope (its rows loaded first), in stream order. */
  apply(envelope: AppliedEnvelope, specs: SpecContents): void {
    this.specContents = specs
    try {
      this.applyEnvelope(envelope)
    } finally {
      this.specContents = noSpecs
    }
  }

  /**
   * The statements writing what the envelopes applied since the last call changed, their parameters
   * serialised now: the caller may fold the next batch before these are sent. `pause` runs between
   * tables (to let other I/O through).
   */
  writes(pause: () => Promise<void> = noPause): Promise<Array<Statement>> {
    return writes(this, pause)
  }

  /** Forgets the rows no batch after `batch` touched (they are read again when needed); `batch` must have committed. */
  forgetUpTo(batch: number): void {
    for (const [id, last] of this.knownProjects) {
      if (last > batch) continue
      this.knownProjects.delete(id)
      this.projects.forget(id)
    }
    for (const [id, last] of this.knownDeployments) {
      if (last > batch) continue
      this.knownDeployments.delete(id)
      this.deployments.forget(id) // id: key2(project, deployment)
      this.steps.forget(id)
      this.instances.forget(id)
    }
    for (const [hostname, last] of this.knownHostnames) {
      if (last > batch) continue
      this.knownHostnames.delete(hostname)
      this.domains.forget(hostname)
    }
  }

  private updateProject(projectId: string, f: (row: ProjectRow) => void): void {
    const row = this.projects.get(projectId)
    if (row === undefined) return
    f(row)
    this.projects.put(row)
  }

  private updateDeployment(projectId: string, deploymentId: string, f: (row: DeploymentRow) => void): void {
    const row = this.deployments.get(key2(projectId, deploymentId))
    if (row === undefined) return
    f(row)
    this.deployments.put(row)
  }

  /** Starts a step unless it already started. */
  private startStep(projectId: string, deploymentId: string, step: StepName, at: Date): void {
    if (this.steps.get(key2(projectId, deploymentId), step) !== undefined) return
    this.steps.put({ project_id: projectId, deployment_id: deploymentId, step, started_at: at, ended_at: null, error: null })
  }

  /** Ends a step (starting it at the same moment if it never started); the first end wins, a later error replaces. */
  private endStep(projectId: string, deploymentId: string, step: StepName, at: Date, error: string | null = null): void {
    const row = this.steps.get(key2(projectId, deploymentId), step)
    if (row === undefined) {
      this.steps.put({ project_id: projectId, deployment_id: deploymentId, step, started_at: at, ended_at: at, error })
      return
    }
    row.ended_at = row.ended_at ?? at
    row.error = error ?? row.error
    this.steps.put(row)
  }

  /** One envelope's effects, in order; then the project's version. */
  private applyEnvelope({ envelope, streamSeq }: AppliedEnvelope): void {
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
        this.updateDeployment(projectId, event.deploymentId, (d) => {
          d.status = "building"
          d.building_at = at
          d.updated_at = at
        })
        this.endStep(projectId, event.deploymentId, "build", at)
        return this.startStep(projectId, event.deploymentId, "krane-create", at)
      case "KraneDeploymentCreated":
        this.updateDeployment(projectId, event.deploymentId, (d) => {
          d.status = "deploying"
          d.deploying_at = at
          d.updated_at = at
        })
        this.endStep(projectId, event.deploymentId, "krane-create", at)
        return this.startStep(projectId, event.deploymentId, "await-instances", at)
      case "InstancesObserved":
        return this.instancesObserved(projectId, event, at)
      case "OpenApiSpecCaptured":
        return this.specCaptured(projectId, event, at)
      case "OpenApiSpecNotFound":
        this.endStep(projectId, event.deploymentId, "scrape-openapi", at)
        return this.startStep(projectId, event.deploymentId, "assign-domains", at)
      case "DomainsAssigned":
        return this.domainsAssigned(projectId, event, at)
      case "DeploymentReady":
        return this.updateDeployment(projectId, event.deploymentId, (d) => {
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
        this.updateDeployment(projectId, event.deploymentId, (d) => {
          d.status = "failed"
          d.updated_at = at
          d.failed_at = at
          d.failed_step = event.step
          d.failure_reason = event.reason
        })
        this.endStep(projectId, event.deploymentId, event.step, at, event.reason)
        // Berth cleans up a failed deployment at once (its Krane deployment, its hostnames).
        return this.startStep(projectId, event.deploymentId, "compensate", at)
      case "DeploymentCancelled":
        return this.deploymentCancelled(projectId, event, at)
      case "DeploymentCompensated":
        return this.deploymentCompensated(projectId, event, at)
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
    if (this.deployments.get(key2(projectId, e.deploymentId)) !== undefined) return
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
  private instancesObserved(projectId: string, e: EventOf<"InstancesObserved">, at: Date): void {
    const key = key2(projectId, e.deploymentId)
    for (const old of this.instances.group(key)) this.instances.delete(key, old.instance_id)
    for (const instance of e.instances) {
      const existing = this.instances.get(key, instance.id)
      if (existing === undefined) {
        this.instances.put({ project_id: projectId, deployment_id: e.deploymentId, instance_id: instance.id, address: instance.address, status: instance.status, updated_at: at })
      } else {
        existing.address = instance.address
        existing.status = instance.status
        this.instances.put(existing)
      }
    }
    if (!e.instances.every((instance) => instance.status === "RUNNING")) return
    const deployment = this.deployments.get(key)
    if (deployment === undefined || deployment.replicas > e.instances.length) return
    const awaiting = this.steps.get(key, "await-instances")
    if (awaiting !== undefined) {
      awaiting.ended_at = awaiting.ended_at ?? at
      this.steps.put(awaiting)
    }
    this.startStep(projectId, e.deploymentId, "scrape-openapi", at)
  }

  private specCaptured(projectId: string, e: EventOf<"OpenApiSpecCaptured">, at: Date): void {
    this.specs.put({
      project_id: projectId,
      deployment_id: e.deploymentId,
      path: e.path,
      object_name: e.objectName,
      content: this.specContents(e.objectName),
      size_bytes: e.sizeBytes,
      sha256: e.sha256,
      captured_at: at
    })
    this.endStep(projectId, e.deploymentId, "scrape-openapi", at)
    this.startStep(projectId, e.deploymentId, "assign-domains", at)
  }

  private domainsAssigned(projectId: string, e: EventOf<"DomainsAssigned">, at: Date): void {
    const deployment = this.deployments.get(key2(projectId, e.deploymentId))
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
    this.endStep(projectId, e.deploymentId, "assign-domains", at)
  }

  /** Every move of the live pointer: the project row, the go-live step, and a live_history row. */
  private liveSwitched(projectId: string, e: EventOf<"LiveSwitched">, at: Date, seq: number): void {
    this.updateProject(projectId, (p) => {
      p.live_deployment_id = e.to
      p.rolled_back = e.reason === "rollback"
    })
    // go-live is recorded when the deployment first goes live (a later rollback to it keeps that record).
    this.endStep(projectId, e.to, "go-live", at)
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
  private deploymentCancelled(projectId: string, e: EventOf<"DeploymentCancelled">, at: Date): void {
    this.updateDeployment(projectId, e.deploymentId, (d) => {
      d.status = "cancelled"
      d.updated_at = at
      d.cancelled_at = at
      d.failed_step = e.step
      d.failure_reason = cancelledByUser
    })
    for (const step of this.steps.group(key2(projectId, e.deploymentId))) {
      if (step.ended_at !== null) continue
      step.ended_at = at
      step.error = cancelledByUser
      this.steps.put(step)
    }
    if (this.steps.get(key2(projectId, e.deploymentId), e.step) === undefined) {
      this.steps.put({ project_id: projectId, deployment_id: e.deploymentId, step: e.step, started_at: at, ended_at: at, error: cancelledByUser })
    }
    this.startStep(projectId, e.deploymentId, "compensate", at)
  }

  /**
   * Compensation finished: the compensate step ends (with the problem, if any), the hostnames it released
   * go (only those still routed to this deployment), and its instances are marked TERMINATED when the
   * Krane deployment was deleted (kept as they were otherwise: they may still run).
   */
  private deploymentCompensated(projectId: string, e: EventOf<"DeploymentCompensated">, at: Date): void {
    this.endStep(projectId, e.deploymentId, "compensate", at, e.problem ?? null)
    this.updateDeployment(projectId, e.deploymentId, (d) => {
      d.compensated_at = d.compensated_at ?? at
      d.updated_at = at
    })
    for (const hostname of e.releasedDomains) {
      const domain = this.domains.get(hostname)
      if (domain?.deployment_id === e.deploymentId && domain.project_id === projectId) this.domains.delete(hostname)
    }
    if (e.kraneDeleted) {
      for (const instance of this.instances.group(key2(projectId, e.deploymentId))) {
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
  const deploymentKeys = new Map<string, readonly [string, string]>()
  const hostnames = new Set<string>()
  const deployment = (projectId: string, deploymentId: string) => deploymentKeys.set(key2(projectId, deploymentId), [projectId, deploymentId])
  for (const { envelope } of envelopes) {
    projectIds.add(envelope.projectId)
    for (const event of envelope.events) {
      switch (event.type) {
        case "ProjectCreated":
          projectIds.add(event.projectId)
          break
        case "LiveSwitched":
          deployment(envelope.projectId, event.to)
          break
        case "DomainsSwitched":
          for (const domain of event.domains) hostnames.add(domain.hostname)
          break
        case "DomainsAssigned":
          deployment(envelope.projectId, event.deploymentId)
          for (const domain of event.domains) hostnames.add(domain.hostname)
          break
        case "DeploymentCompensated":
          deployment(envelope.projectId, event.deploymentId)
          for (const hostname of event.releasedDomains) hostnames.add(hostname)
          break
        case "CommandRejected":
          break
        default:
          deployment(envelope.projectId, event.deploymentId)
      }
    }
  }
  return { projectIds: [...projectIds], deploymentKeys: [...deploymentKeys.values()], hostnames: [...hostnames] }
}

const none = Promise.resolve([])
const noSpecs: SpecContents = () => null
const noPause = () => Promise.resolve()

/**
 * The batch's outcome, a few statements per table in a fixed order (projects before their environments).
 * Updates set only the columns the fold changes on an existing row; the others are written once, on
 * insert. Instants travel as epoch milliseconds (`to_timestamp(x / 1000)`, see arrays.ts).
 */
const writes = async (state: ProjectionState, pause: () => Promise<void>): Promise<Array<Statement>> => {
  const statements: Array<Statement> = []
  const projects = state.projects.flush()
  if (projects.inserts.length > 0) {
    const p = projects.inserts
    const [ids, workspaces, slugs, apexes, branches, paths, lives, rolledBack, created, updated, versions] = [
      texts(p, (r) => r.project_id), texts(p, (r) => r.workspace), texts(p, (r) => r.slug), texts(p, (r) => r.apex_domain),
      texts(p, (r) => r.default_branch), texts(p, (r) => r.openapi_path), texts(p, (r) => r.live_deployment_id),
      bools(p, (r) => r.rolled_back), times(p, (r) => r.created_at), times(p, (r) => r.updated_at), numbers(p, (r) => r.version)
    ]
    statements.push((tx) => tx`
      insert into projects (project_id, workspace, slug, apex_domain, default_branch, openapi_path, live_deployment_id, rolled_back,
        created_at, updated_at, version)
      select id, w, s, ad, db, op, ld, rb, to_timestamp(ca / 1000), to_timestamp(ua / 1000), v
      from unnest(${ids}::text[], ${workspaces}::text[], ${slugs}::text[], ${apexes}::text[], ${branches}::text[], ${paths}::text[],
        ${lives}::text[], ${rolledBack}::bool[], ${created}::float8[], ${updated}::float8[], ${versions}::bigint[])
        as u(id, w, s, ad, db, op, ld, rb, ca, ua, v)`)
  }
  if (projects.updates.length > 0) {
    const p = projects.updates
    const [ids, lives, rolledBack, updated, versions] = [
      texts(p, (r) => r.project_id), texts(p, (r) => r.live_deployment_id), bools(p, (r) => r.rolled_back),
      times(p, (r) => r.updated_at), numbers(p, (r) => r.version)
    ]
    statements.push((tx) => tx`
      update projects p set live_deployment_id = u.ld, rolled_back = u.rb, updated_at = to_timestamp(u.ua / 1000), version = u.v
      from unnest(${ids}::text[], ${lives}::text[], ${rolledBack}::bool[], ${updated}::float8[], ${versions}::bigint[])
        as u(id, ld, rb, ua, v)
      where p.project_id = u.id`)
  }
  await pause()
  const environments = state.environments.flush()
  if (environments.length > 0) {
    const e = environments
    const [ids, projectIds, slugs, kinds] = [
      texts(e, (r) => r.environment_id), texts(e, (r) => r.project_id), texts(e, (r) => r.slug), texts(e, (r) => r.kind)
    ]
    statements.push((tx) => tx`
      insert into environments (environment_id, project_id, slug, kind)
      select * from unnest(${ids}::text[], ${projectIds}::text[], ${slugs}::text[], ${kinds}::text[])
      on conflict (project_id, environment_id) do update set slug = excluded.slug, kind = excluded.kind`)
  }
  await pause()
  const deployments = state.deployments.flush()
  if (deployments.inserts.length > 0) {
    const d = deployments.inserts
    const [ids, projectIds, environmentIds, statuses, sources, shas, branches, messages, replicas, ports, failedSteps, reasons] = [
      texts(d, (r) => r.deployment_id), texts(d, (r) => r.project_id), texts(d, (r) => r.environment_id), texts(d, (r) => r.status),
      jsonValues(d, (r) => r.source), texts(d, (r) => r.git_sha), texts(d, (r) => r.git_branch), texts(d, (r) => r.git_message),
      numbers(d, (r) => r.replicas), numbers(d, (r) => r.port), texts(d, (r) => r.failed_step), texts(d, (r) => r.failure_reason)
    ]
    const [created, updated, building, deploying, ready, failed, cancelled, compensated] = [
      times(d, (r) => r.created_at), times(d, (r) => r.updated_at), times(d, (r) => r.building_at), times(d, (r) => r.deploying_at),
      times(d, (r) => r.ready_at), times(d, (r) => r.failed_at), times(d, (r) => r.cancelled_at), times(d, (r) => r.compensated_at)
    ]
    statements.push((tx) => tx`
      insert into deployments (deployment_id, project_id, environment_id, status, source, git_sha, git_branch, git_message, replicas, port,
        failed_step, failure_reason, created_at, updated_at, building_at, deploying_at, ready_at, failed_at, cancelled_at, compensated_at)
      select d, p, e, s, j, gs, gb, gm, r, po, fs, fr, to_timestamp(ca / 1000), to_timestamp(ua / 1000), to_timestamp(ba / 1000),
        to_timestamp(da / 1000), to_timestamp(ra / 1000), to_timestamp(fa / 1000), to_timestamp(cc / 1000), to_timestamp(co / 1000)
      from rows from (unnest(${ids}::text[]), unnest(${projectIds}::text[]), unnest(${environmentIds}::text[]),
        unnest(${statuses}::text[]), jsonb_array_elements(${sources}::text::jsonb), unnest(${shas}::text[]),
        unnest(${branches}::text[]), unnest(${messages}::text[]), unnest(${replicas}::int[]), unnest(${ports}::int[]),
        unnest(${failedSteps}::text[]), unnest(${reasons}::text[]), unnest(${created}::float8[]), unnest(${updated}::float8[]),
        unnest(${building}::float8[]), unnest(${deploying}::float8[]), unnest(${ready}::float8[]), unnest(${failed}::float8[]),
        unnest(${cancelled}::float8[]), unnest(${compensated}::float8[]))
        as u(d, p, e, s, j, gs, gb, gm, r, po, fs, fr, ca, ua, ba, da, ra, fa, cc, co)`)
  }
  if (deployments.updates.length > 0) {
    const d = deployments.updates
    const [projectIds, ids, statuses, failedSteps, reasons] = [
      texts(d, (r) => r.project_id), texts(d, (r) => r.deployment_id), texts(d, (r) => r.status), texts(d, (r) => r.failed_step),
      texts(d, (r) => r.failure_reason)
    ]
    const [updated, building, deploying, ready, failed, cancelled, compensated] = [
      times(d, (r) => r.updated_at), times(d, (r) => r.building_at), times(d, (r) => r.deploying_at), times(d, (r) => r.ready_at),
      times(d, (r) => r.failed_at), times(d, (r) => r.cancelled_at), times(d, (r) => r.compensated_at)
    ]
    statements.push((tx) => tx`
      update deployments d set status = u.s, failed_step = u.fs, failure_reason = u.fr, updated_at = to_timestamp(u.ua / 1000),
        building_at = to_timestamp(u.ba / 1000), deploying_at = to_timestamp(u.da / 1000), ready_at = to_timestamp(u.ra / 1000),
        failed_at = to_timestamp(u.fa / 1000), cancelled_at = to_timestamp(u.cc / 1000), compensated_at = to_timestamp(u.co / 1000)
      from unnest(${projectIds}::text[], ${ids}::text[], ${statuses}::text[], ${failedSteps}::text[], ${reasons}::text[],
        ${updated}::float8[], ${building}::float8[], ${deploying}::float8[], ${ready}::float8[], ${failed}::float8[],
        ${cancelled}::float8[], ${compensated}::float8[]) as u(p, id, s, fs, fr, ua, ba, da, ra, fa, cc, co)
      where d.project_id = u.p and d.deployment_id = u.id`)
  }
  await pause()
  const steps = state.steps.flush()
  if (steps.inserts.length > 0) {
    const s = steps.inserts
    const [projectIds, ids, names, started, ended, errors] = [
      texts(s, (r) => r.project_id), texts(s, (r) => r.deployment_id), texts(s, (r) => r.step), times(s, (r) => r.started_at),
      times(s, (r) => r.ended_at), texts(s, (r) => r.error)
    ]
    statements.push((tx) => tx`
      insert into deployment_steps (project_id, deployment_id, step, started_at, ended_at, error)
      select p, d, st, to_timestamp(sa / 1000), to_timestamp(ea / 1000), er
      from unnest(${projectIds}::text[], ${ids}::text[], ${names}::text[], ${started}::float8[], ${ended}::float8[], ${errors}::text[])
        as u(p, d, st, sa, ea, er)`)
  }
  if (steps.updates.length > 0) {
    const s = steps.updates
    const [projectIds, ids, names, ended, errors] = [
      texts(s, (r) => r.project_id), texts(s, (r) => r.deployment_id), texts(s, (r) => r.step), times(s, (r) => r.ended_at),
      texts(s, (r) => r.error)
    ]
    statements.push((tx) => tx`
      update deployment_steps s set ended_at = to_timestamp(u.ea / 1000), error = u.er
      from unnest(${projectIds}::text[], ${ids}::text[], ${names}::text[], ${ended}::float8[], ${errors}::text[]) as u(p, d, st, ea, er)
      where s.project_id = u.p and s.deployment_id = u.d and s.step = u.st`)
  }
  await pause()
  const instances = state.instances.flush()
  if (instances.deletes.length > 0) {
    const i = instances.deletes
    const [projectIds, deploymentIds, ids] = [texts(i, (r) => r.project_id), texts(i, (r) => r.deployment_id), texts(i, (r) => r.instance_id)]
    statements.push((tx) => tx`
      delete from instances i using unnest(${projectIds}::text[], ${deploymentIds}::text[], ${ids}::text[]) as u(p, d, n)
      where i.project_id = u.p and i.deployment_id = u.d and i.instance_id = u.n`)
  }
  if (instances.inserts.length > 0) {
    const i = instances.inserts
    const [projectIds, ids, deploymentIds, addresses, statuses, updated] = [
      texts(i, (r) => r.project_id), texts(i, (r) => r.instance_id), texts(i, (r) => r.deployment_id), texts(i, (r) => r.address),
      texts(i, (r) => r.status), times(i, (r) => r.updated_at)
    ]
    statements.push((tx) => tx`
      insert into instances (project_id, instance_id, deployment_id, address, status, updated_at)
      select p, n, d, a, s, to_timestamp(ua / 1000)
      from unnest(${projectIds}::text[], ${ids}::text[], ${deploymentIds}::text[], ${addresses}::text[], ${statuses}::text[],
        ${updated}::float8[]) as u(p, n, d, a, s, ua)`)
  }
  if (instances.updates.length > 0) {
    const i = instances.updates
    const [projectIds, deploymentIds, ids, addresses, statuses, updated] = [
      texts(i, (r) => r.project_id), texts(i, (r) => r.deployment_id), texts(i, (r) => r.instance_id), texts(i, (r) => r.address),
      texts(i, (r) => r.status), times(i, (r) => r.updated_at)
    ]
    statements.push((tx) => tx`
      update instances i set address = u.a, status = u.s, updated_at = to_timestamp(u.ua / 1000)
      from unnest(${projectIds}::text[], ${deploymentIds}::text[], ${ids}::text[], ${addresses}::text[], ${statuses}::text[],
        ${updated}::float8[]) as u(p, d, n, a, s, ua)
      where i.project_id = u.p and i.deployment_id = u.d and i.instance_id = u.n`)
  }
  await pause()
  const domains = state.domains.flush()
  if (domains.deletes.length > 0) {
    const hostnames = texts(domains.deletes, (r) => r.hostname)
    statements.push((tx) => tx`delete from domains where hostname = any(${hostnames}::text[])`)
  }
  if (domains.inserts.length > 0 || domains.updates.length > 0) {
    // A few rows per deployment: one upsert for new and changed ones.
    const h = [...domains.inserts, ...domains.updates]
    const [hostnames, projectIds, environmentIds, deploymentIds, stickies, updated] = [
      texts(h, (r) => r.hostname), texts(h, (r) => r.project_id), texts(h, (r) => r.environment_id), texts(h, (r) => r.deployment_id),
      texts(h, (r) => r.sticky), times(h, (r) => r.updated_at)
    ]
    statements.push((tx) => tx`
      insert into domains (hostname, project_id, environment_id, deployment_id, sticky, updated_at)
      select h, p, e, d, s, to_timestamp(ua / 1000)
      from unnest(${hostnames}::text[], ${projectIds}::text[], ${environmentIds}::text[], ${deploymentIds}::text[],
        ${stickies}::text[], ${updated}::float8[]) as u(h, p, e, d, s, ua)
      on conflict (hostname) do update set project_id = excluded.project_id, environment_id = excluded.environment_id,
        deployment_id = excluded.deployment_id, sticky = excluded.sticky, updated_at = excluded.updated_at`)
  }
  await pause()
  const specs = state.specs.flush()
  if (specs.length > 0) {
    const s = specs
    const [projectIds, ids, paths, objects, contents, sizes, shas, captured] = [
      texts(s, (r) => r.project_id), texts(s, (r) => r.deployment_id), texts(s, (r) => r.path), texts(s, (r) => r.object_name),
      texts(s, (r) => (r.content === null ? null : Buffer.from(r.content).toString("hex"))), numbers(s, (r) => r.size_bytes),
      texts(s, (r) => r.sha256), times(s, (r) => r.captured_at)
    ]
    statements.push((tx) => tx`
      insert into openapi_specs (project_id, deployment_id, path, object_name, content, size_bytes, sha256, captured_at)
      select pr, d, p, o, decode(c, 'hex'), s, h, to_timestamp(a / 1000)
      from unnest(${projectIds}::text[], ${ids}::text[], ${paths}::text[], ${objects}::text[], ${contents}::text[], ${sizes}::int[],
        ${shas}::text[], ${captured}::float8[]) as u(pr, d, p, o, c, s, h, a)
      on conflict (project_id, deployment_id) do update set path = excluded.path, object_name = excluded.object_name, content = excluded.content,
        size_bytes = excluded.size_bytes, sha256 = excluded.sha256, captured_at = excluded.captured_at`)
  }
  const history = state.liveHistory.flush()
  if (history.length > 0) {
    const h = history
    const [projectIds, seqs, at, from, to, reasons] = [
      texts(h, (r) => r.project_id), numbers(h, (r) => r.stream_seq), times(h, (r) => r.at), texts(h, (r) => r.from_deployment_id),
      texts(h, (r) => r.to_deployment_id), texts(h, (r) => r.reason)
    ]
    statements.push((tx) => tx`
      insert into live_history (project_id, stream_seq, at, from_deployment_id, to_deployment_id, reason)
      select p, s, to_timestamp(a / 1000), f, t, r
      from unnest(${projectIds}::text[], ${seqs}::bigint[], ${at}::float8[], ${from}::text[], ${to}::text[], ${reasons}::text[])
        as u(p, s, a, f, t, r)
      on conflict (project_id, stream_seq) do nothing`)
  }
  return statements
}
