/**
 * The event wire contract (events.ts): every event type and every literal it may carry decodes, and
 * anything else is refused, so a log written by this version reads back, and a foreign or corrupt
 * envelope is not taken for one. Events are deliberately unbounded (limits apply to commands only).
 */
import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { EventEnvelope, type ProjectEvent, ProjectEvent as ProjectEventSchema } from "../../src/domain/events.js"

const decodeEvent = Schema.decodeUnknownEither(ProjectEventSchema)
const decodeEnvelope = Schema.decodeUnknownEither(EventEnvelope)
const assignment = { hostname: "shop.berth.test", sticky: "live" } as const

/** One of each event, with every optional field set. */
const everyEvent: ReadonlyArray<ProjectEvent> = [
  {
    type: "ProjectCreated",
    projectId: "proj_1",
    workspace: "acme",
    slug: "shop",
    apexDomain: "berth.test",
    defaultBranch: "main",
    openApiPath: "/openapi.yaml",
    environments: [{ id: "env_prod", slug: "production", kind: "production" }]
  },
  {
    type: "DeploymentRequested",
    deploymentId: "dep_1",
    environmentId: "env_prod",
    source: { image: "ghcr.io/acme/shop:1" },
    git: { sha: "abcdef0", branch: "main", message: "m".repeat(20_000) },
    replicas: 1000,
    port: 8080,
    cpuMillicores: 512,
    memorySizeMib: 512,
    env: { A: "1" }
  },
  { type: "DeploymentBuilding", deploymentId: "dep_1" },
  { type: "KraneDeploymentCreated", deploymentId: "dep_1", namespace: "acme", kraneDeploymentId: "proj_1--dep_1", readyDeadlineAt: 1.5e12 },
  {
    type: "InstancesObserved",
    deploymentId: "dep_1",
    instances: [
      { id: "i1", address: "10.0.0.1:8080", status: "PENDING" },
      { id: "i2", address: "10.0.0.2:8080", status: "RUNNING" },
      { id: "i3", address: "10.0.0.3:8080", status: "TERMINATING" },
      { id: "i4", address: "10.0.0.4:8080", status: "UNSPECIFIED" }
    ]
  },
  { type: "OpenApiSpecCaptured", deploymentId: "dep_1", path: "/openapi.yaml", objectName: "proj_1/dep_1", sizeBytes: 42, sha256: "ab" },
  { type: "OpenApiSpecNotFound", deploymentId: "dep_1", path: "/openapi.yaml", reason: "404" },
  {
    type: "DomainsAssigned",
    deploymentId: "dep_1",
    domains: [
      { hostname: "a", sticky: "none" },
      { hostname: "b", sticky: "branch" },
      { hostname: "c", sticky: "environment" },
      { hostname: "d", sticky: "live" },
      { hostname: "e", sticky: "deployment" }
    ],
    withheld: [assignment],
    routeRevision: 3
  },
  { type: "DeploymentReady", deploymentId: "dep_1" },
  { type: "LiveSwitched", from: null, to: "dep_1", reason: "deploy" },
  { type: "LiveSwitched", from: "dep_1", to: "dep_2", reason: "rollback" },
  { type: "LiveSwitched", from: "dep_2", to: "dep_1", reason: "promote" },
  { type: "DeploymentFailed", deploymentId: "dep_1", step: "build", reason: "r" },
  { type: "DeploymentFailed", deploymentId: "dep_1", step: "krane-create", reason: "r" },
  { type: "DeploymentFailed", deploymentId: "dep_1", step: "await-instances", reason: "r" },
  { type: "DeploymentFailed", deploymentId: "dep_1", step: "scrape-openapi", reason: "r" },
  { type: "DeploymentFailed", deploymentId: "dep_1", step: "assign-domains", reason: "r" },
  { type: "DeploymentFailed", deploymentId: "dep_1", step: "go-live", reason: "r" },
  { type: "DeploymentFailed", deploymentId: "dep_1", step: "compensate", reason: "r" },
  { type: "DomainsSwitched", toDeploymentId: "dep_1", domains: [assignment], reason: "rollback", routeRevision: 4 },
  { type: "DomainsSwitched", toDeploymentId: "dep_2", domains: [assignment], reason: "promote", routeRevision: 5 },
  { type: "RollbackCleared", deploymentId: "dep_1" },
  { type: "DeploymentCancelled", deploymentId: "dep_1", step: "await-instances", commandId: "cmd_1" },
  { type: "DeploymentCompensated", deploymentId: "dep_1", kraneDeleted: true, releasedDomains: ["a"], problem: "p" },
  { type: "DeploymentCompensated", deploymentId: "dep_1", kraneDeleted: false, releasedDomains: [] },
  { type: "CommandRejected", commandId: "cmd_1", commandType: "Deploy", code: "invalid_input", message: "m" }
]

describe("events", () => {
  it.each(everyEvent.map((event) => ({ name: `${event.type} ${JSON.stringify(event).slice(0, 60)}`, event })))(
    "$name decodes to itself",
    ({ event }) => {
      expect(decodeEvent(JSON.parse(JSON.stringify(event)))).toEqual(Either.right(event))
    }
  )

  it.each([
    { name: "an unknown type", value: { type: "DeploymentExploded", deploymentId: "dep_1" } },
    { name: "an unknown instance status", value: { type: "InstancesObserved", deploymentId: "dep_1", instances: [{ id: "i", address: "a", status: "STOPPED" }] } },
    { name: "an unknown sticky kind", value: { type: "DomainsSwitched", toDeploymentId: "d", domains: [{ hostname: "h", sticky: "forever" }], reason: "rollback", routeRevision: 1 } },
    { name: "an unknown step", value: { type: "DeploymentFailed", deploymentId: "dep_1", step: "deploy", reason: "r" } },
    { name: "an unknown live-switch reason", value: { type: "LiveSwitched", from: null, to: "dep_1", reason: "manual" } },
    { name: "a switch reason of deploy", value: { type: "DomainsSwitched", toDeploymentId: "d", domains: [], reason: "deploy", routeRevision: 1 } },
    { name: "fractional replicas", value: { ...everyEvent[1], replicas: 1.5 } },
    { name: "a fractional spec size", value: { ...everyEvent[5], sizeBytes: 1.5 } },
    { name: "a missing failure reason", value: { type: "DeploymentFailed", deploymentId: "dep_1", step: "build" } },
    { name: "a missing live-switch origin (null is required, not absent)", value: { type: "LiveSwitched", to: "dep_1", reason: "deploy" } },
    { name: "a compensation without kraneDeleted", value: { type: "DeploymentCompensated", deploymentId: "dep_1", releasedDomains: [] } }
  ])("refuses $name", ({ value }) => {
    expect(Either.isLeft(decodeEvent(value))).toBe(true)
  })
})

describe("the event envelope", () => {
  const envelope = { v: 1, projectId: "proj_1", commandId: "cmd_1", previousVersion: 0, at: 1_700_000_000_000, actor: "tok_1", events: everyEvent }

  it("decodes with every event in it, with or without an actor, with a null commandId for step results", () => {
    expect(decodeEnvelope(envelope)).toEqual(Either.right(envelope))
    const { actor: _actor, ...withoutActor } = envelope
    expect(decodeEnvelope({ ...withoutActor, commandId: null })).toEqual(Either.right({ ...withoutActor, commandId: null }))
  })

  it.each([
    { name: "another version", value: { ...envelope, v: 2 } },
    { name: "no version", value: { ...envelope, v: undefined } },
    { name: "no commandId at all", value: { ...envelope, commandId: undefined } },
    { name: "an event that is not one", value: { ...envelope, events: [{ type: "Nope" }] } }
  ])("refuses $name", ({ value }) => {
    expect(Either.isLeft(decodeEnvelope(value))).toBe(true)
  })
})
