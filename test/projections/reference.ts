/**
 * The projector's former statement-per-effect implementation, kept as the oracle for the set-based
 * fold (batching.int.test.ts): every effect of every event as its own SQL statement, in order.
 */
import type postgres from "postgres"
import type { EventOf, ProjectEvent, StepName } from "../../src/domain/events.js"
import type { AppliedEnvelope, SpecContents } from "../../src/projections/applyEvent.js"
import type { TxSql } from "../../src/projections/Database.js"

/** Statements not yet sent: postgres.js sends a query when it is first awaited. */
export type Statements = Array<postgres.PendingQuery<postgres.Row[]>>

const startStep = (tx: TxSql, projectId: string, deploymentId: string, step: StepName, at: Date) =>
  tx`insert into deployment_steps (project_id, deployment_id, step, started_at)
     values (${projectId}, ${deploymentId}, ${step}, ${at})
     on conflict (project_id, deployment_id, step) do nothing`

/** Ends a step (starting it at the same moment if it never started); the first end wins. */
const endStep = (tx: TxSql, projectId: string, deploymentId: string, step: StepName, at: Date, error: string | null = null) =>
  tx`insert into deployment_steps (project_id, deployment_id, step, started_at, ended_at, error)
     values (${projectId}, ${deploymentId}, ${step}, ${at}, ${at}, ${error})
     on conflict (project_id, deployment_id, step) do update
       set ended_at = coalesce(deployment_steps.ended_at, excluded.ended_at),
           error = coalesce(excluded.error, deployment_steps.error)`

const projectCreated = (tx: TxSql, e: EventOf<"ProjectCreated">, at: Date, seq: number): Statements => [
  tx`insert into projects (project_id, workspace, slug, apex_domain, default_branch, openapi_path, created_at, updated_at, version)
    values (${e.projectId}, ${e.workspace}, ${e.slug}, ${e.apexDomain}, ${e.defaultBranch}, ${e.openApiPath ?? null}, ${at}, ${at}, ${seq})
    on conflict (project_id) do nothing`,
  ...e.environments.map((env) =>
    tx`insert into environments (environment_id, project_id, slug, kind)
      values (${env.id}, ${e.projectId}, ${env.slug}, ${env.kind})
      on conflict (project_id, environment_id) do update set slug = excluded.slug, kind = excluded.kind`
  )
]

const deploymentRequested = (tx: TxSql, projectId: string, e: EventOf<"DeploymentRequested">, at: Date) =>
  tx`insert into deployments (deployment_id, project_id, environment_id, status, source, git_sha, git_branch, git_message,
      replicas, port, created_at, updated_at)
    values (${e.deploymentId}, ${projectId}, ${e.environmentId}, 'pending', ${tx.json(e.source)}, ${e.git?.sha ?? null},
      ${e.git?.branch ?? null}, ${e.git?.message ?? null}, ${e.replicas}, ${e.port}, ${at}, ${at})
    on conflict (project_id, deployment_id) do nothing`

/** The instance set is replaced; once every replica runs, await-instances ends and scrape-openapi starts. */
const instancesObserved = (tx: TxSql, projectId: string, e: EventOf<"InstancesObserved">, at: Date): Statements => {
  const statements: Statements = [
    tx`delete from instances where project_id = ${projectId} and deployment_id = ${e.deploymentId}`,
    ...e.instances.map((instance) =>
      tx`insert into instances (project_id, instance_id, deployment_id, address, status, updated_at)
        values (${projectId}, ${instance.id}, ${e.deploymentId}, ${instance.address}, ${instance.status}, ${at})
        on conflict (project_id, deployment_id, instance_id) do update set address = excluded.address, status = excluded.status`
    )
  ]
  if (!e.instances.every((instance) => instance.status === "RUNNING")) return statements
  const allUp = () => tx`exists (select 1 from deployments where project_id = ${projectId} and deployment_id = ${e.deploymentId} and replicas <= ${e.instances.length})`
  return [
    ...statements,
    tx`update deployment_steps set ended_at = coalesce(ended_at, ${at})
        where project_id = ${projectId} and deployment_id = ${e.deploymentId} and step = 'await-instances' and ${allUp()}`,
    tx`insert into deployment_steps (project_id, deployment_id, step, started_at)
        select ${projectId}, ${e.deploymentId}, 'scrape-openapi', ${at} where ${allUp()}
        on conflict (project_id, deployment_id, step) do nothing`
  ]
}

const specCaptured = (tx: TxSql, projectId: string, e: EventOf<"OpenApiSpecCaptured">, at: Date, specs: SpecContents): Statements => {
  const content = specs(e.objectName)
  return [
    tx`insert into openapi_specs (project_id, deployment_id, path, object_name, content, size_bytes, sha256, captured_at)
      values (${projectId}, ${e.deploymentId}, ${e.path}, ${e.objectName}, ${content === null ? null : Buffer.from(content)}, ${e.sizeBytes},
        ${e.sha256}, ${at})
      on conflict (project_id, deployment_id) do update set path = excluded.path, object_name = excluded.object_name, content = excluded.content,
        size_bytes = excluded.size_bytes, sha256 = excluded.sha256, captured_at = excluded.captured_at`,
    endStep(tx, projectId, e.deploymentId, "scrape-openapi", at),
    startStep(tx, projectId, e.deploymentId, "assign-domains", at)
  ]
}

const domainsAssigned = (tx: TxSql, projectId: string, e: EventOf<"DomainsAssigned">, at: Date): Statements => [
  ...e.domains.map((domain) =>
    tx`insert into domains (hostname, project_id, environment_id, deployment_id, sticky, updated_at)
      select ${domain.hostname}, ${projectId}, d.environment_id, d.deployment_id, ${domain.sticky}, ${at}
        from deployments d where d.project_id = ${projectId} and d.deployment_id = ${e.deploymentId}
      on conflict (hostname) do update set project_id = excluded.project_id, environment_id = excluded.environment_id,
        deployment_id = excluded.deployment_id, sticky = excluded.sticky, updated_at = excluded.updated_at`
  ),
  endStep(tx, projectId, e.deploymentId, "assign-domains", at)
]

/** Every move of the live pointer: the project row, the go-live step, and a live_history row. */
const liveSwitched = (tx: TxSql, projectId: string, e: EventOf<"LiveSwitched">, at: Date, seq: number): Statements => [
  tx`update projects set live_deployment_id = ${e.to}, rolled_back = ${e.reason === "rollback"} where project_id = ${projectId}`,
  // go-live is recorded when the deployment first goes live (a later rollback to it keeps that record).
  endStep(tx, projectId, e.to, "go-live", at),
  tx`insert into live_history (project_id, stream_seq, at, from_deployment_id, to_deployment_id, reason)
    values (${projectId}, ${seq}, ${at}, ${e.from}, ${e.to}, ${e.reason})
    on conflict (project_id, stream_seq) do nothing`
]

/** A rollback or promote moved sticky hostnames (that the read model knows) to another deployment. */
const domainsSwitched = (tx: TxSql, e: EventOf<"DomainsSwitched">, at: Date): Statements =>
  e.domains.length === 0
    ? []
    : [
        tx`update domains set deployment_id = ${e.toDeploymentId}, updated_at = ${at}
          where hostname = any(${e.domains.map((domain) => domain.hostname)}::text[])`
      ]

const cancelledByUser = "cancelled by user"

/** The open step ends with the cancel (the named step is recorded even if it never started); compensation starts. */
const deploymentCancelled = (tx: TxSql, projectId: string, e: EventOf<"DeploymentCancelled">, at: Date): Statements => [
  tx`update deployments set status = 'cancelled', updated_at = ${at}, cancelled_at = ${at},
      failed_step = ${e.step}, failure_reason = ${cancelledByUser}
    where project_id = ${projectId} and deployment_id = ${e.deploymentId}`,
  tx`update deployment_steps set ended_at = ${at}, error = ${cancelledByUser}
    where project_id = ${projectId} and deployment_id = ${e.deploymentId} and ended_at is null`,
  tx`insert into deployment_steps (project_id, deployment_id, step, started_at, ended_at, error)
    values (${projectId}, ${e.deploymentId}, ${e.step}, ${at}, ${at}, ${cancelledByUser})
    on conflict (project_id, deployment_id, step) do nothing`,
  startStep(tx, projectId, e.deploymentId, "compensate", at)
]

/**
 * Compensation finished: the compensate step ends (with the problem, if any), the hostnames it released
 * go (only those still routed to this deployment), and its instances are marked TERMINATED when the
 * Krane deployment was deleted (kept as they were otherwise: they may still run).
 */
const deploymentCompensated = (tx: TxSql, projectId: string, e: EventOf<"DeploymentCompensated">, at: Date): Statements => [
  endStep(tx, projectId, e.deploymentId, "compensate", at, e.problem ?? null),
  tx`update deployments set compensated_at = coalesce(compensated_at, ${at}), updated_at = ${at} where project_id = ${projectId} and deployment_id = ${e.deploymentId}`,
  ...(e.releasedDomains.length === 0
    ? []
    : [tx`delete from domains where project_id = ${projectId} and deployment_id = ${e.deploymentId} and hostname = any(${e.releasedDomains}::text[])`]),
  ...(e.kraneDeleted
    ? [tx`update instances set status = 'TERMINATED', updated_at = ${at} where project_id = ${projectId} and deployment_id = ${e.deploymentId}`]
    : [])
]

const eventStatements = (tx: TxSql, projectId: string, event: ProjectEvent, at: Date, seq: number, specs: SpecContents): Statements => {
  switch (event.type) {
    case "ProjectCreated":
      return projectCreated(tx, event, at, seq)
    case "DeploymentRequested":
      return [deploymentRequested(tx, projectId, event, at)]
    case "DeploymentBuilding":
      // Sources are images or commands: building starts and ends at once, and Krane creation begins.
      return [
        tx`update deployments set status = 'building', building_at = ${at}, updated_at = ${at} where project_id = ${projectId} and deployment_id = ${event.deploymentId}`,
        endStep(tx, projectId, event.deploymentId, "build", at),
        startStep(tx, projectId, event.deploymentId, "krane-create", at)
      ]
    case "KraneDeploymentCreated":
      return [
        tx`update deployments set status = 'deploying', deploying_at = ${at}, updated_at = ${at} where project_id = ${projectId} and deployment_id = ${event.deploymentId}`,
        endStep(tx, projectId, event.deploymentId, "krane-create", at),
        startStep(tx, projectId, event.deploymentId, "await-instances", at)
      ]
    case "InstancesObserved":
      return instancesObserved(tx, projectId, event, at)
    case "OpenApiSpecCaptured":
      return specCaptured(tx, projectId, event, at, specs)
    case "OpenApiSpecNotFound":
      return [endStep(tx, projectId, event.deploymentId, "scrape-openapi", at), startStep(tx, projectId, event.deploymentId, "assign-domains", at)]
    case "DomainsAssigned":
      return domainsAssigned(tx, projectId, event, at)
    case "DeploymentReady":
      return [tx`update deployments set status = 'ready', ready_at = ${at}, updated_at = ${at} where project_id = ${projectId} and deployment_id = ${event.deploymentId}`]
    case "LiveSwitched":
      return liveSwitched(tx, projectId, event, at, seq)
    case "DomainsSwitched":
      return domainsSwitched(tx, event, at)
    case "RollbackCleared":
      return [tx`update projects set rolled_back = false where project_id = ${projectId}`]
    case "DeploymentFailed":
      return [
        tx`update deployments set status = 'failed', updated_at = ${at}, failed_at = ${at},
            failed_step = ${event.step}, failure_reason = ${event.reason}
          where project_id = ${projectId} and deployment_id = ${event.deploymentId}`,
        endStep(tx, projectId, event.deploymentId, event.step, at, event.reason),
        // Berth cleans up a failed deployment at once (its Krane deployment, its hostnames).
        startStep(tx, projectId, event.deploymentId, "compensate", at)
      ]
    case "DeploymentCancelled":
      return deploymentCancelled(tx, projectId, event, at)
    case "DeploymentCompensated":
      return deploymentCompensated(tx, projectId, event, at)
    case "CommandRejected":
      return [] // audit only
  }
}

/** Every statement of one envelope's effects, in order; the last sets the project's version. */
export const envelopeStatements = (tx: TxSql, { envelope, streamSeq }: AppliedEnvelope, specs: SpecContents): Statements => {
  const at = new Date(envelope.at)
  return [
    ...envelope.events.flatMap((event) => eventStatements(tx, envelope.projectId, event, at, streamSeq, specs)),
    tx`update projects set version = ${streamSeq}, updated_at = ${at} where project_id = ${envelope.projectId}`
  ]
}
