/**
 * A hand-made event history for projector and API tests: one project, a deployment that goes live
 * (with its OpenAPI document in the object store), a failed one, a preview one whose document object
 * is missing, and a rejected command. Published as envelopes on berth.evt.<projectId>.
 */
import type { JetStreamClient } from "@nats-io/jetstream"
import { Objm } from "@nats-io/obj"
import type { EventEnvelope, ProjectEvent } from "../../src/domain/events.js"
import { buckets, subjects } from "../../src/nats/subjects.js"

export const projectId = "proj_shop"
export const t0 = Date.UTC(2026, 0, 1, 12, 0, 0)
export const specText = "openapi: 3.0.0\ninfo:\n  title: shop\n  version: 1.0.0\npaths: {}\n"
export const specObjectName = "dep_live/openapi"

export interface Step {
  readonly at: number
  readonly commandId: string | null
  readonly events: ReadonlyArray<ProjectEvent>
}

const requested = (deploymentId: string, environmentId: string, replicas: number): ProjectEvent => ({
  type: "DeploymentRequested",
  deploymentId,
  environmentId,
  source: { image: `registry.local/shop:${deploymentId}` },
  git: { sha: "abc1234", branch: "main", message: `deploy ${deploymentId}` },
  replicas,
  port: 8080,
  cpuMillicores: 250,
  memorySizeMib: 256,
  env: { MODE: "test" }
})

const running = (deploymentId: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `${deploymentId}-i${i}`, address: `10.0.0.${i + 1}:8080`, status: "RUNNING" as const }))

/** The whole history, in order; `at` advances one second per decision. */
const decisions: ReadonlyArray<Omit<Step, "at">> = [
  {
    commandId: "cmd_create",
    events: [{
      type: "ProjectCreated",
      projectId,
      workspace: "acme",
      slug: "shop",
      apexDomain: "berth.localhost",
      defaultBranch: "main",
      openApiPath: "/openapi.yaml",
      environments: [
        { id: "env_prod", slug: "production", kind: "production" },
        { id: "env_prev", slug: "preview", kind: "preview" }
      ]
    }]
  },
  { commandId: "cmd_d1", events: [requested("dep_live", "env_prod", 2), { type: "DeploymentBuilding", deploymentId: "dep_live" }] },
  { commandId: null, events: [{ type: "KraneDeploymentCreated", deploymentId: "dep_live", namespace: "acme", readyDeadlineAt: t0 + 60_000 }] },
  {
    commandId: null,
    events: [{
      type: "InstancesObserved",
      deploymentId: "dep_live",
      instances: [{ id: "dep_live-i0", address: "10.0.0.1:8080", status: "PENDING" }]
    }]
  },
  { commandId: null, events: [{ type: "InstancesObserved", deploymentId: "dep_live", instances: running("dep_live", 2) }] },
  {
    commandId: null,
    events: [{
      type: "OpenApiSpecCaptured",
      deploymentId: "dep_live",
      path: "/openapi.yaml",
      objectName: specObjectName,
      sizeBytes: specText.length,
      sha256: "deadbeef"
    }]
  },
  {
    commandId: null,
    events: [
      {
        type: "DomainsAssigned",
        deploymentId: "dep_live",
        domains: [
          { hostname: "shop-acme.berth.localhost", sticky: "live" },
          { hostname: "shop-git-abc1234-acme.berth.localhost", sticky: "deployment" }
        ],
        withheld: [],
        routeRevision: 1
      },
      { type: "DeploymentReady", deploymentId: "dep_live" },
      { type: "LiveSwitched", from: null, to: "dep_live", reason: "deploy" }
    ]
  },
  { commandId: "cmd_d2", events: [requested("dep_fail", "env_prod", 1), { type: "DeploymentBuilding", deploymentId: "dep_fail" }] },
  { commandId: null, events: [{ type: "KraneDeploymentCreated", deploymentId: "dep_fail", namespace: "acme", readyDeadlineAt: t0 + 60_000 }] },
  {
    commandId: null,
    events: [{
      type: "DeploymentFailed",
      deploymentId: "dep_fail",
      step: "await-instances",
      reason: "deployment never became ready: 0 of 1 instances running after 60s"
    }]
  },
  { commandId: "cmd_d3", events: [requested("dep_prev", "env_prev", 1), { type: "DeploymentBuilding", deploymentId: "dep_prev" }] },
  { commandId: null, events: [{ type: "KraneDeploymentCreated", deploymentId: "dep_prev", namespace: "acme", readyDeadlineAt: t0 + 60_000 }] },
  { commandId: null, events: [{ type: "InstancesObserved", deploymentId: "dep_prev", instances: running("dep_prev", 1) }] },
  {
    commandId: null,
    events: [{
      type: "OpenApiSpecCaptured",
      deploymentId: "dep_prev",
      path: "/openapi.yaml",
      objectName: "dep_prev/missing",
      sizeBytes: 10,
      sha256: "cafe"
    }]
  },
  {
    commandId: null,
    events: [
      {
        type: "DomainsAssigned",
        deploymentId: "dep_prev",
        domains: [{ hostname: "shop-preview-acme.berth.localhost", sticky: "environment" }],
        withheld: [],
        routeRevision: 2
      },
      { type: "DeploymentReady", deploymentId: "dep_prev" }
    ]
  },
  {
    commandId: "cmd_bad",
    events: [{ type: "CommandRejected", commandId: "cmd_bad", commandType: "Deploy", code: "NOT_FOUND", message: "environment not found" }]
  }
]

export const history: ReadonlyArray<Step> = decisions.map((step, i) => ({ ...step, at: t0 + i * 1000 }))

export const eventCount = history.reduce((n, step) => n + step.events.length, 0)

const liveHost = "shop-acme.berth.localhost"
const productionHost = "shop-production-acme.berth.localhost"
const stickyHosts = [
  { hostname: liveHost, sticky: "live" as const },
  { hostname: productionHost, sticky: "environment" as const }
]
const switchTo = (to: string, from: string, reason: "rollback" | "promote", routeRevision: number): ReadonlyArray<ProjectEvent> => [
  { type: "DomainsSwitched", toDeploymentId: to, domains: stickyHosts, reason, routeRevision },
  { type: "LiveSwitched", from, to, reason }
]

/**
 * What follows `history`: dep_next deploys and goes live; a rollback to dep_live, a promote of
 * dep_next, a rollback to dep_live again, and a promote confirming it; dep_cancel (preview) is
 * cancelled while awaiting instances and compensated; dep_fail's compensation reports a problem.
 */
const lifecycleDecisions: ReadonlyArray<Omit<Step, "at">> = [
  { commandId: "cmd_d4", events: [requested("dep_next", "env_prod", 1), { type: "DeploymentBuilding", deploymentId: "dep_next" }] },
  { commandId: null, events: [{ type: "KraneDeploymentCreated", deploymentId: "dep_next", namespace: "acme", readyDeadlineAt: t0 + 60_000 }] },
  { commandId: null, events: [{ type: "InstancesObserved", deploymentId: "dep_next", instances: running("dep_next", 1) }] },
  { commandId: null, events: [{ type: "OpenApiSpecNotFound", deploymentId: "dep_next", path: "/openapi.yaml", reason: "404" }] },
  {
    commandId: null,
    events: [
      { type: "DomainsAssigned", deploymentId: "dep_next", domains: stickyHosts, withheld: [], routeRevision: 3 },
      { type: "DeploymentReady", deploymentId: "dep_next" },
      { type: "LiveSwitched", from: "dep_live", to: "dep_next", reason: "deploy" }
    ]
  },
  { commandId: "cmd_rb1", events: switchTo("dep_live", "dep_next", "rollback", 4) },
  { commandId: "cmd_pr1", events: switchTo("dep_next", "dep_live", "promote", 5) },
  { commandId: "cmd_rb2", events: switchTo("dep_live", "dep_next", "rollback", 6) },
  { commandId: "cmd_pr2", events: [{ type: "RollbackCleared", deploymentId: "dep_live" }] },
  { commandId: "cmd_d5", events: [requested("dep_cancel", "env_prev", 2), { type: "DeploymentBuilding", deploymentId: "dep_cancel" }] },
  { commandId: null, events: [{ type: "KraneDeploymentCreated", deploymentId: "dep_cancel", namespace: "acme", readyDeadlineAt: t0 + 90_000 }] },
  {
    commandId: null,
    events: [{ type: "InstancesObserved", deploymentId: "dep_cancel", instances: [{ id: "dep_cancel-i0", address: "10.0.1.1:8080", status: "RUNNING" }] }]
  },
  { commandId: "cmd_cancel", events: [{ type: "DeploymentCancelled", deploymentId: "dep_cancel", step: "await-instances", commandId: "cmd_cancel" }] },
  { commandId: null, events: [{ type: "DeploymentCompensated", deploymentId: "dep_cancel", kraneDeleted: true, releasedDomains: [] }] },
  {
    commandId: null,
    events: [{
      type: "DeploymentCompensated",
      deploymentId: "dep_fail",
      kraneDeleted: false,
      // Routed to dep_live now: not released by dep_fail's compensation.
      releasedDomains: [liveHost],
      problem: "could not delete the Krane deployment acme/dep_fail: unavailable"
    }]
  }
]

export const lifecycle: ReadonlyArray<Step> = lifecycleDecisions.map((step, i) => ({ ...step, at: t0 + (history.length + i) * 1000 }))

/** Stores the captured document in the OpenAPI object store (the bucket is created if needed). */
export const putSpec = async (js: JetStreamClient): Promise<void> => {
  const os = await new Objm(js).create(buckets.openApi)
  await os.putBlob({ name: specObjectName }, new TextEncoder().encode(specText))
}

/** Publishes steps as envelopes (previousVersion chained); returns their stream sequences. */
export const publishSteps = async (
  js: JetStreamClient,
  steps: ReadonlyArray<Step>,
  previous = 0,
  project: string = projectId
): Promise<Array<number>> => {
  const seqs: Array<number> = []
  let previousVersion = previous
  for (const step of steps) {
    const envelope: EventEnvelope = { v: 1, projectId: project, commandId: step.commandId, previousVersion, at: step.at, events: step.events }
    const ack = await js.publish(subjects.events(project), JSON.stringify(envelope))
    seqs.push(ack.seq)
    previousVersion = ack.seq
  }
  return seqs
}

/** Publishes a raw (possibly invalid) payload on the project's subject; returns its sequence. */
export const publishRaw = async (js: JetStreamClient, payload: string): Promise<number> =>
  (await js.publish(subjects.events(projectId), payload)).seq
