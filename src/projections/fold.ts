/**
 * The fold of events over the read model's rows, in memory and in stream order, with exactly the
 * semantics of one SQL statement per effect (first go-live kept, a step's first end wins, domains
 * released only while still routed to the deployment, ...). Pure apart from changing the rows it is
 * given: no I/O. The rows an envelope can touch (`touched`) must be loaded into them first; the step
 * timeline's rules are the domain's (domain/timeline.ts).
 */
import type { EventOf, ProjectEvent, StepName } from "../domain/events.js"
import { cancelledByUser, stepMarks, type StepMark } from "../domain/timeline.js"
import type { AppliedEnvelope, SpecContents } from "./applyEvent.js"
import { key2, type ReadModelRows } from "./rowCache.js"
import type { DeploymentRow, ProjectRow } from "./rows.js"

/** The OpenAPI document bytes are fetched before the fold; none by default. */
const noSpecs: SpecContents = () => null

/** Folds one envelope's events, in order, then moves the project's version to its stream sequence. */
export const foldEnvelope = (rows: ReadModelRows, { envelope, streamSeq }: AppliedEnvelope, specs: SpecContents = noSpecs): void => {
  const at = new Date(envelope.at)
  for (const event of envelope.events) foldEvent(rows, envelope.projectId, event, at, streamSeq, specs)
  updateProject(rows, envelope.projectId, (p) => {
    p.version = streamSeq
    p.updated_at = at
  })
}

/** One event's effects on the rows: its own, then its step timeline marks. */
export const foldEvent = (
  rows: ReadModelRows,
  projectId: string,
  event: ProjectEvent,
  at: Date,
  seq: number,
  specs: SpecContents = noSpecs
): void => {
  rowEffects(rows, projectId, event, at, seq, specs)
  // After the row effects: an instance report ends await-instances only for a known deployment.
  const replicas = event.type === "InstancesObserved" ? rows.deployments.get(key2(projectId, event.deploymentId))?.replicas : undefined
  const marks = stepMarks(event, replicas)
  if (marks === undefined) return
  for (const mark of marks.marks) markStep(rows, projectId, marks.deploymentId, mark, at)
}

/** What a batch can touch: its projects, deployments (and their steps and instances) and hostnames. */
export const touched = (envelopes: ReadonlyArray<AppliedEnvelope>) => {
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

/** One timeline mark (domain/timeline.ts) on a deployment's step rows. */
const markStep = (rows: ReadModelRows, projectId: string, deploymentId: string, mark: StepMark, at: Date): void => {
  const group = key2(projectId, deploymentId)
  switch (mark._tag) {
    case "start":
      if (rows.steps.get(group, mark.step) !== undefined) return
      return rows.steps.put({ project_id: projectId, deployment_id: deploymentId, step: mark.step, started_at: at, ended_at: null, error: null })
    case "end": {
      const row = rows.steps.get(group, mark.step)
      if (row === undefined) {
        return rows.steps.put({ project_id: projectId, deployment_id: deploymentId, step: mark.step, started_at: at, ended_at: at, error: mark.error })
      }
      row.ended_at = row.ended_at ?? at
      row.error = mark.error ?? row.error
      return rows.steps.put(row)
    }
    case "endStarted": {
      const row = rows.steps.get(group, mark.step)
      if (row === undefined) return
      row.ended_at = row.ended_at ?? at
      return rows.steps.put(row)
    }
    case "endOpen":
      for (const step of rows.steps.group(group)) {
        if (step.ended_at !== null) continue
        step.ended_at = at
        step.error = mark.error
        rows.steps.put(step)
      }
      return
    case "record":
      if (rows.steps.get(group, mark.step) !== undefined) return
      return rows.steps.put({ project_id: projectId, deployment_id: deploymentId, step: mark.step, started_at: at, ended_at: at, error: mark.error })
  }
}

const updateProject = (rows: ReadModelRows, projectId: string, f: (row: ProjectRow) => void): void => {
  const row = rows.projects.get(projectId)
  if (row === undefined) return
  f(row)
  rows.projects.put(row)
}

const updateDeployment = (rows: ReadModelRows, projectId: string, deploymentId: string, f: (row: DeploymentRow) => void): void => {
  const row = rows.deployments.get(key2(projectId, deploymentId))
  if (row === undefined) return
  f(row)
  rows.deployments.put(row)
}

/** An event's effects on every table but the steps (those are its timeline marks). */
const rowEffects = (rows: ReadModelRows, projectId: string, event: ProjectEvent, at: Date, seq: number, specs: SpecContents): void => {
  switch (event.type) {
    case "ProjectCreated":
      return projectCreated(rows, event, at, seq)
    case "DeploymentRequested":
      return deploymentRequested(rows, projectId, event, at)
    case "DeploymentBuilding":
      return updateDeployment(rows, projectId, event.deploymentId, (d) => {
        d.status = "building"
        d.building_at = at
        d.updated_at = at
      })
    case "KraneDeploymentCreated":
      return updateDeployment(rows, projectId, event.deploymentId, (d) => {
        d.status = "deploying"
        d.deploying_at = at
        d.updated_at = at
      })
    case "InstancesObserved":
      return instancesObserved(rows, projectId, event, at)
    case "OpenApiSpecCaptured":
      return rows.specs.put({
        project_id: projectId,
        deployment_id: event.deploymentId,
        path: event.path,
        object_name: event.objectName,
        content: specs(event.objectName),
        size_bytes: event.sizeBytes,
        sha256: event.sha256,
        captured_at: at
      })
    case "OpenApiSpecNotFound":
      return
    case "DomainsAssigned":
      return domainsAssigned(rows, projectId, event, at)
    case "DeploymentReady":
      return updateDeployment(rows, projectId, event.deploymentId, (d) => {
        d.status = "ready"
        d.ready_at = at
        d.updated_at = at
      })
    case "LiveSwitched":
      return liveSwitched(rows, projectId, event, at, seq)
    case "DomainsSwitched":
      return domainsSwitched(rows, event, at)
    case "RollbackCleared":
      return updateProject(rows, projectId, (p) => {
        p.rolled_back = false
      })
    case "DeploymentFailed":
      return ended(rows, projectId, event.deploymentId, "failed", event.step, event.reason, at)
    case "DeploymentCancelled":
      return ended(rows, projectId, event.deploymentId, "cancelled", event.step, cancelledByUser, at)
    case "DeploymentCompensated":
      return deploymentCompensated(rows, projectId, event, at)
    case "CommandRejected":
      return // audit only
  }
}

const projectCreated = (rows: ReadModelRows, e: EventOf<"ProjectCreated">, at: Date, seq: number): void => {
  if (rows.projects.get(e.projectId) === undefined) {
    rows.projects.put({
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
    rows.environments.put({ project_id: e.projectId, environment_id: env.id, slug: env.slug, kind: env.kind })
  }
}

const deploymentRequested = (rows: ReadModelRows, projectId: string, e: EventOf<"DeploymentRequested">, at: Date): void => {
  if (rows.deployments.get(key2(projectId, e.deploymentId)) !== undefined) return
  rows.deployments.put({
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

/** The instance set is replaced (instances kept by id are updated in place). */
const instancesObserved = (rows: ReadModelRows, projectId: string, e: EventOf<"InstancesObserved">, at: Date): void => {
  const key = key2(projectId, e.deploymentId)
  for (const old of rows.instances.group(key)) rows.instances.delete(key, old.instance_id)
  for (const instance of e.instances) {
    const existing = rows.instances.get(key, instance.id)
    if (existing === undefined) {
      rows.instances.put({ project_id: projectId, deployment_id: e.deploymentId, instance_id: instance.id, address: instance.address, status: instance.status, updated_at: at })
    } else {
      existing.address = instance.address
      existing.status = instance.status
      rows.instances.put(existing)
    }
  }
}

const domainsAssigned = (rows: ReadModelRows, projectId: string, e: EventOf<"DomainsAssigned">, at: Date): void => {
  const deployment = rows.deployments.get(key2(projectId, e.deploymentId))
  if (deployment === undefined) return
  for (const domain of e.domains) {
    rows.domains.put({
      hostname: domain.hostname,
      project_id: projectId,
      environment_id: deployment.environment_id,
      deployment_id: deployment.deployment_id,
      sticky: domain.sticky,
      updated_at: at
    })
  }
}

/** Every move of the live pointer: the project row and a live_history row (go-live is a timeline mark). */
const liveSwitched = (rows: ReadModelRows, projectId: string, e: EventOf<"LiveSwitched">, at: Date, seq: number): void => {
  updateProject(rows, projectId, (p) => {
    p.live_deployment_id = e.to
    p.rolled_back = e.reason === "rollback"
  })
  if (rows.liveHistory.get(key2(projectId, String(seq))) === undefined) {
    rows.liveHistory.put({ project_id: projectId, stream_seq: seq, at, from_deployment_id: e.from, to_deployment_id: e.to, reason: e.reason })
  }
}

/** A rollback or promote moved sticky hostnames (that the read model knows) to another deployment. */
const domainsSwitched = (rows: ReadModelRows, e: EventOf<"DomainsSwitched">, at: Date): void => {
  for (const domain of e.domains) {
    const row = rows.domains.get(domain.hostname)
    if (row === undefined) continue
    row.deployment_id = e.toDeploymentId
    row.updated_at = at
    rows.domains.put(row)
  }
}

/** A deployment failed at or was cancelled during `step`. */
const ended = (
  rows: ReadModelRows,
  projectId: string,
  deploymentId: string,
  status: "failed" | "cancelled",
  step: StepName,
  reason: string,
  at: Date
): void =>
  updateDeployment(rows, projectId, deploymentId, (d) => {
    d.status = status
    d.updated_at = at
    if (status === "failed") d.failed_at = at
    else d.cancelled_at = at
    d.failed_step = step
    d.failure_reason = reason
  })

/**
 * Compensation finished: the hostnames it released go (only those still routed to this deployment),
 * and its instances are marked TERMINATED when the Krane deployment was deleted (kept as they were
 * otherwise: they may still run).
 */
const deploymentCompensated = (rows: ReadModelRows, projectId: string, e: EventOf<"DeploymentCompensated">, at: Date): void => {
  updateDeployment(rows, projectId, e.deploymentId, (d) => {
    d.compensated_at = d.compensated_at ?? at
    d.updated_at = at
  })
  for (const hostname of e.releasedDomains) {
    const domain = rows.domains.get(hostname)
    if (domain?.deployment_id === e.deploymentId && domain.project_id === projectId) rows.domains.delete(hostname)
  }
  if (e.kraneDeleted) {
    for (const instance of rows.instances.group(key2(projectId, e.deploymentId))) {
      instance.status = "TERMINATED"
      instance.updated_at = at
      rows.instances.put(instance)
    }
  }
}
