/**
 * Row shapes of the read model's tables as postgres.js returns them: the one set of row types of the
 * projector (its row cache, fold and writes) and the queries. Instants are Dates; `bigint` columns
 * the projector reads back come as numbers (it selects them as text and converts).
 */
import type { StepName } from "../domain/events.js"

/** A `projects` row. */
export interface ProjectRow {
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

/** An `environments` row. */
export interface EnvironmentRow {
  project_id: string
  environment_id: string
  slug: string
  kind: string
}

/** A `deployment_steps` row: one step of a deployment's timeline. */
export interface StepRow {
  project_id: string
  deployment_id: string
  step: StepName
  started_at: Date
  ended_at: Date | null
  error: string | null
}

/** An `instances` row. */
export interface InstanceRow {
  project_id: string
  deployment_id: string
  instance_id: string
  address: string
  status: string
  updated_at: Date
}

/** A `domains` row: where a hostname routes. */
export interface DomainRow {
  hostname: string
  project_id: string
  environment_id: string
  deployment_id: string
  sticky: string
  updated_at: Date
}

/** An `openapi_specs` row. */
export interface SpecRow {
  project_id: string
  deployment_id: string
  path: string
  object_name: string
  content: Uint8Array | null
  size_bytes: number
  sha256: string
  captured_at: Date
}

/** A `live_history` row: one move of the live pointer. */
export interface LiveHistoryRow {
  project_id: string
  stream_seq: number
  at: Date
  from_deployment_id: string | null
  to_deployment_id: string
  reason: string
}

/** A `deployments` row. */
export interface DeploymentRow {
  deployment_id: string
  project_id: string
  environment_id: string
  status: string
  source: unknown
  git_sha: string | null
  git_branch: string | null
  git_message: string | null
  replicas: number
  port: number
  failed_step: string | null
  failure_reason: string | null
  created_at: Date
  updated_at: Date
  building_at: Date | null
  deploying_at: Date | null
  ready_at: Date | null
  failed_at: Date | null
  cancelled_at: Date | null
  compensated_at: Date | null
}
