/**
 * One projector session's view of the read model, set-based: a row cache (rowCache.ts) of the rows
 * recent batches touched. Before a batch, the rows it can touch that the session does not know yet are
 * read (one select per table); every event is folded over the rows in memory in stream order
 * (fold.ts); then the outcome becomes a few statements per table (writes.ts); rows the fold did not
 * touch are not written.
 *
 * The session is optimistic: it assumes every batch it wrote commits. The caller commits batches in
 * order, each guarded by the checkpoint the session expected, and drops the session when one fails;
 * rows are only forgotten (and read again when needed) once the batch that last touched them
 * committed, so a read never misses a write still in flight. The caller owns transactions, checkpoints
 * and the audit rows; OpenAPI document bytes are fetched beforehand.
 */
import type { AppliedEnvelope, SpecContents } from "./applyEvent.js"
import type { Sql, Statement, TxSql } from "./Database.js"
import { foldEnvelope, touched } from "./fold.js"
import { key2, ReadModelRows } from "./rowCache.js"
import type { DeploymentRow, DomainRow, InstanceRow, ProjectRow, StepRow } from "./rows.js"
import { writes } from "./writes.js"

/** When each key (project, deployment with its steps and instances, hostname) was last touched, by batch number. */
type Touched = Map<string, number>

const none = Promise.resolve([])
const noPause = () => Promise.resolve()

/** The read model's rows known to one projector session: read, folded, written, forgotten. */
export class ProjectionState {
  readonly rows = new ReadModelRows()

  /** Keys whose rows (or their absence) the state knows, with the batch that last touched them. */
  private readonly knownProjects: Touched = new Map()
  private readonly knownDeployments: Touched = new Map()
  private readonly knownHostnames: Touched = new Map()

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
    this.rows.projects.load(projects.map((p) => ({ ...p, version: Number(p.version) })))
    this.rows.deployments.load(deployments)
    this.rows.steps.load(steps)
    this.rows.instances.load(instances)
    this.rows.domains.load(domains)
    for (const id of projectIds) this.knownProjects.set(id, batch)
    for (const [projectId, deploymentId] of deploymentKeys) this.knownDeployments.set(key2(projectId, deploymentId), batch)
    for (const hostname of hostnames) this.knownHostnames.set(hostname, batch)
  }

  /** Folds one envelope (its rows loaded first), in stream order. */
  apply(envelope: AppliedEnvelope, specs: SpecContents): void {
    foldEnvelope(this.rows, envelope, specs)
  }

  /**
   * The statements writing what the envelopes applied since the last call changed, their parameters
   * serialised now: the caller may fold the next batch before these are sent. `pause` runs between
   * tables (to let other I/O through).
   */
  writes(pause: () => Promise<void> = noPause): Promise<Array<Statement>> {
    return writes(this.rows, pause)
  }

  /** Forgets the rows no batch after `batch` touched (they are read again when needed); `batch` must have committed. */
  forgetUpTo(batch: number): void {
    for (const [id, last] of this.knownProjects) {
      if (last > batch) continue
      this.knownProjects.delete(id)
      this.rows.projects.forget(id)
    }
    for (const [id, last] of this.knownDeployments) {
      if (last > batch) continue
      this.knownDeployments.delete(id)
      this.rows.deployments.forget(id) // id: key2(project, deployment)
      this.rows.steps.forget(id)
      this.rows.instances.forget(id)
    }
    for (const [hostname, last] of this.knownHostnames) {
      if (last > batch) continue
      this.knownHostnames.delete(hostname)
      this.rows.domains.forget(hostname)
    }
  }
}
