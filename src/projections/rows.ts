/**
 * Row shapes of the read model's tables as postgres.js returns them, shared by the projector and the
 * queries.
 */

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
