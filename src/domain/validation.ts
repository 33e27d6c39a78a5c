/**
 * The command rules both the decider and the API apply, each with its one message (Unkey's where
 * Unkey has one). The decider applies them to its state; the API to what its read model knows for
 * certain, to answer at once instead of publishing a command that would be rejected.
 */
import type { EnvironmentSpec } from "./commands.js"
import { Rejection } from "./rejection.js"

const duplicates = (values: ReadonlyArray<string>): ReadonlyArray<string> => [
  ...new Set(values.filter((value, index) => values.indexOf(value) !== index))
]

/** A new project's environments: unique ids and slugs, at most one production environment. */
export const environmentsIssue = (environments: ReadonlyArray<EnvironmentSpec>): Rejection | undefined => {
  const ids = duplicates(environments.map((e) => e.id))
  if (ids.length > 0) return new Rejection({ code: "invalid_input", message: `duplicate environment id: ${ids.join(", ")}` })
  const slugs = duplicates(environments.map((e) => e.slug))
  if (slugs.length > 0) return new Rejection({ code: "invalid_input", message: `duplicate environment slug: ${slugs.join(", ")}` })
  // One live pointer and one live hostname per project: two production environments would fight over both.
  if (environments.filter((e) => e.kind === "production").length > 1) {
    return new Rejection({ code: "invalid_input", message: "a project has at most one production environment" })
  }
  return undefined
}

export const projectExists = (projectId: string) =>
  new Rejection({ code: "project_exists", message: `project already exists: ${projectId}` })

export const projectNotFound = (projectId: string) =>
  new Rejection({ code: "project_not_found", message: `project not found: ${projectId}` })

export const deploymentExists = (deploymentId: string) =>
  new Rejection({ code: "deployment_exists", message: `deployment already exists: ${deploymentId}` })

export const deploymentNotFound = (deploymentId: string) =>
  new Rejection({ code: "deployment_not_found", message: `deployment not found: ${deploymentId}` })

export const environmentNotFound = (environmentId: string, workspace: string) =>
  new Rejection({ code: "environment_not_found", message: `environment '${environmentId}' not found in workspace '${workspace}'` })

/** Only a deployment in progress can be cancelled (spec 5.1). */
export const notCancellable = (deploymentId: string, status: string) =>
  new Rejection({
    code: "precondition_failed",
    message: `deployment ${deploymentId} is already ${status}: only a deployment in progress can be cancelled`
  })
