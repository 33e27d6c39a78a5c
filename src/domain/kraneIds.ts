/**
 * Tenant isolation at Krane: the id Berth gives Krane for a deployment is derived from the project
 * *and* the deployment, so two projects that use the same deployment id (ids are unique only within a
 * project; raw NATS publishers choose their own) never address the same Krane deployment, and a
 * compensation can only ever delete its own project's.
 *
 * `<projectId>--<deploymentId>` when that is readable and unambiguous, else `h-<sha256 hex>` of both.
 * The readable form is only used when the project id has no `-`: the first `-` then marks where the
 * project id ends, so no two (project, deployment) pairs share a readable id; and a hashed id
 * (`h-` + hex) never has the `--` a readable one has at the same place. Both forms are ids Krane
 * accepts (a Token: `[A-Za-z0-9_-]`, at most 128 characters).
 */
import { sha256Hex } from "./sha256.js"

/** Krane's deployment ids (and Berth's own ids) are tokens of at most this many characters. */
export const kraneIdMaxChars = 128

export const kraneDeploymentId = (projectId: string, deploymentId: string): string => {
  const readable = `${projectId}--${deploymentId}`
  if (!projectId.includes("-") && readable.length <= kraneIdMaxChars) return readable
  // The NUL separator cannot occur in either id (tokens), so the hashed input is unambiguous too.
  return `h-${sha256Hex(`${projectId}\u0000${deploymentId}`)}`
}

/** Where a project's OpenAPI documents live in the object store: one name per (project, deployment). */
export const openApiObjectName = (projectId: string, deploymentId: string): string => `${projectId}/${deploymentId}`
