/**
 * Valid synthetic event envelopes (what Berth itself appends for a project and its deployments), for
 * workloads that fill the stream raw instead of running the orchestrator.
 */
import type { EventEnvelope, ProjectEvent } from "../../src/domain/events.js"

export const projectCreated = (projectId: string): ProjectEvent => ({
  type: "ProjectCreated",
  projectId,
  workspace: "acme",
  slug: "shop",
  apexDomain: "berth.test",
  defaultBranch: "main",
  environments: [
    { id: "env_prod", slug: "production", kind: "production" },
    { id: "env_prev", slug: "preview", kind: "preview" }
  ]
})

/** The decisions of one successful deployment, one envelope's events each (as the actor appends them). */
export const deploymentDecisions = (deploymentId: string, previousLive: string | null, at: number): ReadonlyArray<ReadonlyArray<ProjectEvent>> => {
  const hostname = `shop-${deploymentId.replaceAll("_", "-")}-acme.berth.test`
  return [
    [
      {
        type: "DeploymentRequested",
        deploymentId,
        environmentId: "env_prod",
        source: { command: ["node", "server.js"] },
        git: { sha: "a1b2c3d4e5f6", branch: "main", message: "ship it" },
        replicas: 1,
        port: 8080,
        cpuMillicores: 512,
        memorySizeMib: 512,
        env: {}
      },
      { type: "DeploymentBuilding", deploymentId }
    ],
    [{ type: "KraneDeploymentCreated", deploymentId, namespace: "acme", readyDeadlineAt: at + 300_000 }],
    [{ type: "InstancesObserved", deploymentId, instances: [{ id: `${deploymentId}-0`, address: `${deploymentId}-0.krane.test:8080`, status: "RUNNING" }] }],
    [{ type: "OpenApiSpecNotFound", deploymentId, path: "/openapi.yaml", reason: "bench" }],
    [
      {
        type: "DomainsAssigned",
        deploymentId,
        domains: [{ hostname, sticky: "none" }, { hostname: "shop-acme.berth.test", sticky: "live" }],
        withheld: [],
        routeRevision: 1
      },
      { type: "DeploymentReady", deploymentId },
      { type: "LiveSwitched", from: previousLive, to: deploymentId, reason: "deploy" }
    ]
  ]
}

/**
 * An endless, valid event history of one project: ProjectCreated, then deployment after deployment.
 * Each call of `next()` returns the events of the next envelope.
 */
export const projectHistory = (projectId: string, at: number) => {
  let started = false
  let deployment = 0
  let pending: Array<ReadonlyArray<ProjectEvent>> = []
  let live: string | null = null
  return {
    next: (): { readonly commandId: string | null; readonly events: ReadonlyArray<ProjectEvent> } => {
      if (!started) {
        started = true
        return { commandId: `cmd_create_${projectId}`, events: [projectCreated(projectId)] }
      }
      if (pending.length === 0) {
        deployment++
        const id = `dep_${projectId}_${deployment}`
        pending = [...deploymentDecisions(id, live, at)]
        live = id
        const first = pending.shift() ?? []
        return { commandId: `cmd_${id}`, events: first }
      }
      return { commandId: null, events: pending.shift() ?? [] }
    }
  }
}

export const envelope = (
  projectId: string,
  previousVersion: number,
  at: number,
  decision: { readonly commandId: string | null; readonly events: ReadonlyArray<ProjectEvent> }
): EventEnvelope => ({ v: 1, projectId, commandId: decision.commandId, previousVersion, at, events: decision.events })
