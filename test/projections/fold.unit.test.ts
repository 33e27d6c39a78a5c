/**
 * The read model's fold (src/projections/fold.ts) over its row cache, without PostgreSQL: tables of
 * event histories and the rows they leave (the step timeline, the deployment row, domains, instances),
 * and what the cache then writes (inserts, updates, deletes). batching.int.test.ts checks the same
 * fold against the statement-per-effect oracle in PostgreSQL.
 */
import { describe, expect, it } from "vitest"
import type { ProjectEvent, StepName } from "../../src/domain/events.js"
import { foldEnvelope, touched } from "../../src/projections/fold.js"
import { key2, ReadModelRows } from "../../src/projections/rowCache.js"
import {
  building,
  deploymentFailed,
  deploymentReady,
  domainsAssigned,
  instance,
  kraneCreated,
  liveSwitched,
  observed,
  projectCreated,
  projectId,
  requested,
  specCaptured,
  specNotFound,
  standardDomains
} from "../domain/decider.js"

/** Event n (from 0) is folded as its own envelope at second n, stream sequence n + 1. */
const t0 = Date.UTC(2026, 0, 1)
const at = (n: number): Date => new Date(t0 + n * 1000)

const fold = (events: ReadonlyArray<ProjectEvent>, rows = new ReadModelRows(), from = 0): ReadModelRows => {
  events.forEach((event, i) =>
    foldEnvelope(rows, {
      streamSeq: from + i + 1,
      envelope: { v: 1, projectId, commandId: null, previousVersion: from + i, at: at(from + i).getTime(), events: [event] }
    })
  )
  return rows
}

/** A step as [name, started (event index), ended (event index or null), error]. */
type Timeline = ReadonlyArray<readonly [StepName, number, number | null, string | null]>

const timelineOf = (rows: ReadModelRows, deploymentId: string): Timeline =>
  rows.steps
    .group(key2(projectId, deploymentId))
    .map((s) => [s.step, (s.started_at.getTime() - t0) / 1000, s.ended_at === null ? null : (s.ended_at.getTime() - t0) / 1000, s.error] as const)

const cancelled = (deploymentId: string, step: StepName): ProjectEvent => ({ type: "DeploymentCancelled", deploymentId, step, commandId: "cmd_cancel" })
const compensated = (deploymentId: string, releasedDomains: ReadonlyArray<string>, kraneDeleted = true, problem?: string): ProjectEvent => ({
  type: "DeploymentCompensated",
  deploymentId,
  kraneDeleted,
  releasedDomains,
  ...(problem === undefined ? {} : { problem })
})

// Events 0..8 of one deployment going live.
const toLive: ReadonlyArray<ProjectEvent> = [
  projectCreated,
  requested("dep_1"),
  building("dep_1"),
  kraneCreated("dep_1"),
  observed("dep_1", instance(1)),
  specCaptured("dep_1"),
  domainsAssigned("dep_1", standardDomains("dep_1")),
  deploymentReady("dep_1"),
  liveSwitched(null, "dep_1")
]

interface TimelineCase {
  readonly name: string
  readonly events: ReadonlyArray<ProjectEvent>
  readonly deploymentId?: string
  readonly timeline: Timeline
}

const timelineCases: ReadonlyArray<TimelineCase> = [
  { name: "requested only: no step yet", events: toLive.slice(0, 2), timeline: [] },
  {
    name: "building: build starts and ends at once, krane-create starts",
    events: toLive.slice(0, 3),
    timeline: [["build", 2, 2, null], ["krane-create", 2, null, null]]
  },
  {
    name: "the whole way live: each step ends where the next starts, go-live at the switch",
    events: toLive,
    timeline: [
      ["build", 2, 2, null],
      ["krane-create", 2, 3, null],
      ["await-instances", 3, 4, null],
      ["scrape-openapi", 4, 5, null],
      ["assign-domains", 5, 6, null],
      ["go-live", 8, 8, null]
    ]
  },
  {
    name: "no document found also ends the scrape",
    events: [...toLive.slice(0, 5), specNotFound("dep_1")],
    timeline: [
      ["build", 2, 2, null],
      ["krane-create", 2, 3, null],
      ["await-instances", 3, 4, null],
      ["scrape-openapi", 4, 5, null],
      ["assign-domains", 5, null, null]
    ]
  },
  {
    name: "an instance not running yet keeps await-instances open",
    events: [...toLive.slice(0, 4), observed("dep_1", instance(1, "PENDING"))],
    timeline: [["build", 2, 2, null], ["krane-create", 2, 3, null], ["await-instances", 3, null, null]]
  },
  {
    name: "fewer instances than replicas keep await-instances open",
    events: [projectCreated, requested("dep_1", { replicas: 2 }), building("dep_1"), kraneCreated("dep_1"), observed("dep_1", instance(1))],
    timeline: [["build", 2, 2, null], ["krane-create", 2, 3, null], ["await-instances", 3, null, null]]
  },
  {
    name: "a second report once all run ends await-instances there",
    events: [...toLive.slice(0, 4), observed("dep_1", instance(1, "PENDING")), observed("dep_1", instance(1))],
    timeline: [["build", 2, 2, null], ["krane-create", 2, 3, null], ["await-instances", 3, 5, null], ["scrape-openapi", 5, null, null]]
  },
  {
    name: "instances of a deployment the read model does not know start no step",
    events: [projectCreated, observed("dep_x", instance(1))],
    deploymentId: "dep_x",
    timeline: []
  },
  {
    name: "a failure ends its step with the reason and starts compensation",
    events: [...toLive.slice(0, 4), deploymentFailed("dep_1", "await-instances", "not ready in time")],
    timeline: [
      ["build", 2, 2, null],
      ["krane-create", 2, 3, null],
      ["await-instances", 3, 4, "not ready in time"],
      ["compensate", 4, null, null]
    ]
  },
  {
    name: "a failure at a step that never started records it started and ended at once",
    events: [...toLive.slice(0, 3), deploymentFailed("dep_1", "scrape-openapi", "boom")],
    timeline: [["build", 2, 2, null], ["krane-create", 2, null, null], ["scrape-openapi", 3, 3, "boom"], ["compensate", 3, null, null]]
  },
  {
    name: "a failure after its step ended keeps the end and takes the error",
    events: [...toLive.slice(0, 6), deploymentFailed("dep_1", "scrape-openapi", "late")],
    timeline: [
      ["build", 2, 2, null],
      ["krane-create", 2, 3, null],
      ["await-instances", 3, 4, null],
      ["scrape-openapi", 4, 5, "late"],
      ["assign-domains", 5, null, null],
      ["compensate", 6, null, null]
    ]
  },
  {
    name: "a cancel ends every open step 'cancelled by user' and starts compensation",
    events: [...toLive.slice(0, 4), cancelled("dep_1", "await-instances")],
    timeline: [
      ["build", 2, 2, null],
      ["krane-create", 2, 3, null],
      ["await-instances", 3, 4, "cancelled by user"],
      ["compensate", 4, null, null]
    ]
  },
  {
    name: "a cancel names a step that never started: recorded at the cancel",
    events: [...toLive.slice(0, 2), cancelled("dep_1", "krane-create")],
    timeline: [["krane-create", 2, 2, "cancelled by user"], ["compensate", 2, null, null]]
  },
  {
    name: "compensation ends with the problem it could not solve",
    events: [...toLive.slice(0, 4), deploymentFailed("dep_1", "await-instances", "x"), compensated("dep_1", [], false, "krane unreachable")],
    timeline: [
      ["build", 2, 2, null],
      ["krane-create", 2, 3, null],
      ["await-instances", 3, 4, "x"],
      ["compensate", 4, 5, "krane unreachable"]
    ]
  },
  {
    name: "go-live keeps the first time a deployment went live (a rollback to it later does not move it)",
    events: [
      ...toLive,
      requested("dep_2"),
      liveSwitched("dep_1", "dep_2"),
      liveSwitched("dep_2", "dep_1", "rollback")
    ],
    timeline: [
      ["build", 2, 2, null],
      ["krane-create", 2, 3, null],
      ["await-instances", 3, 4, null],
      ["scrape-openapi", 4, 5, null],
      ["assign-domains", 5, 6, null],
      ["go-live", 8, 8, null]
    ]
  }
]

describe("the fold's step timeline", () => {
  it.each(timelineCases)("$name", ({ events, deploymentId, timeline }) => {
    expect(timelineOf(fold(events), deploymentId ?? "dep_1")).toStrictEqual(timeline)
  })
})

describe("the fold's deployment and project rows", () => {
  interface RowCase {
    readonly name: string
    readonly events: ReadonlyArray<ProjectEvent>
    readonly deployment: Record<string, unknown>
  }
  const rowCases: ReadonlyArray<RowCase> = [
    { name: "requested: pending", events: toLive.slice(0, 2), deployment: { status: "pending", building_at: null, updated_at: at(1) } },
    { name: "building", events: toLive.slice(0, 3), deployment: { status: "building", building_at: at(2), updated_at: at(2) } },
    { name: "deploying", events: toLive.slice(0, 4), deployment: { status: "deploying", deploying_at: at(3) } },
    { name: "ready", events: toLive, deployment: { status: "ready", ready_at: at(7), failed_step: null } },
    {
      name: "failed: step, reason and time",
      events: [...toLive.slice(0, 4), deploymentFailed("dep_1", "await-instances", "nope")],
      deployment: { status: "failed", failed_at: at(4), failed_step: "await-instances", failure_reason: "nope", cancelled_at: null }
    },
    {
      name: "cancelled: the step and 'cancelled by user'",
      events: [...toLive.slice(0, 4), cancelled("dep_1", "await-instances")],
      deployment: { status: "cancelled", cancelled_at: at(4), failed_step: "await-instances", failure_reason: "cancelled by user", failed_at: null }
    },
    {
      name: "compensated twice: the first time stays",
      events: [...toLive.slice(0, 4), cancelled("dep_1", "await-instances"), compensated("dep_1", []), compensated("dep_1", [])],
      deployment: { compensated_at: at(5), updated_at: at(6) }
    },
    {
      name: "a repeated request keeps the first row",
      events: [...toLive.slice(0, 3), { ...requested("dep_1"), replicas: 5 }],
      deployment: { status: "building", replicas: 1, created_at: at(1) }
    }
  ]
  it.each(rowCases)("$name", ({ events, deployment }) => {
    expect(fold(events).deployments.get(key2(projectId, "dep_1"))).toMatchObject(deployment)
  })

  it("each envelope moves the project's version and time; live pointer and rollback flag follow LiveSwitched", () => {
    const rows = fold([...toLive, requested("dep_2"), liveSwitched("dep_1", "dep_2"), liveSwitched("dep_2", "dep_1", "rollback")])
    expect(rows.projects.get(projectId)).toMatchObject({ version: 12, updated_at: at(11), live_deployment_id: "dep_1", rolled_back: true, created_at: at(0) })
    expect(rows.liveHistory.flush().map((h) => [h.stream_seq, h.from_deployment_id, h.to_deployment_id, h.reason])).toStrictEqual([
      [9, null, "dep_1", "deploy"],
      [11, "dep_1", "dep_2", "deploy"],
      [12, "dep_2", "dep_1", "rollback"]
    ])
  })
})

describe("the fold's domains and instances", () => {
  const hostnames = standardDomains("dep_1").map((d) => d.hostname)

  it("assigned domains route to the deployment, in its environment", () => {
    const rows = fold(toLive)
    expect(hostnames.map((h) => rows.domains.get(h)?.deployment_id)).toStrictEqual(["dep_1", "dep_1", "dep_1"])
    expect(rows.domains.get(hostnames[0] ?? "")).toMatchObject({ environment_id: "env_prod", sticky: "environment", updated_at: at(6) })
  })

  it("a switch moves only the hostnames the read model knows", () => {
    const live = standardDomains("dep_1")[1]
    if (live === undefined) throw new Error("fixture")
    const rows = fold([
      ...toLive,
      { type: "DomainsSwitched", toDeploymentId: "dep_2", domains: [live, { hostname: "unknown.example.com", sticky: "live" }], reason: "rollback", routeRevision: 2 }
    ])
    expect(rows.domains.get(live.hostname)).toMatchObject({ deployment_id: "dep_2", updated_at: at(9) })
    expect(rows.domains.get("unknown.example.com")).toBeUndefined()
  })

  it("compensation releases only hostnames still routed to the deployment", () => {
    const [environment, live] = hostnames
    const rows = fold([
      ...toLive,
      { type: "DomainsSwitched", toDeploymentId: "dep_2", domains: [{ hostname: live ?? "", sticky: "live" }], reason: "promote", routeRevision: 2 },
      compensated("dep_1", [environment ?? "", live ?? ""])
    ])
    expect(rows.domains.get(environment ?? "")).toBeUndefined()
    expect(rows.domains.get(live ?? "")?.deployment_id).toBe("dep_2")
  })

  interface InstanceCase {
    readonly name: string
    readonly events: ReadonlyArray<ProjectEvent>
    readonly instances: ReadonlyArray<readonly [string, string, string]>
  }
  const instanceCases: ReadonlyArray<InstanceCase> = [
    { name: "observed", events: toLive.slice(0, 5), instances: [["i-1", "10.0.0.1:8080", "RUNNING"]] },
    {
      name: "a new report replaces the set (an instance under the same id takes the new address)",
      events: [...toLive.slice(0, 5), observed("dep_1", { id: "i-1", address: "10.0.0.9:8080", status: "RUNNING" }, instance(2, "PENDING"))],
      instances: [["i-1", "10.0.0.9:8080", "RUNNING"], ["i-2", "10.0.0.2:8080", "PENDING"]]
    },
    { name: "an empty report removes them all", events: [...toLive.slice(0, 5), observed("dep_1")], instances: [] },
    {
      name: "compensation that deleted the Krane deployment terminates them",
      events: [...toLive.slice(0, 5), deploymentFailed("dep_1", "scrape-openapi", "x"), compensated("dep_1", [], true)],
      instances: [["i-1", "10.0.0.1:8080", "TERMINATED"]]
    },
    {
      name: "compensation that could not delete it keeps them as they were",
      events: [...toLive.slice(0, 5), deploymentFailed("dep_1", "scrape-openapi", "x"), compensated("dep_1", [], false, "krane down")],
      instances: [["i-1", "10.0.0.1:8080", "RUNNING"]]
    }
  ]
  it.each(instanceCases)("$name", ({ events, instances }) => {
    const rows = fold(events).instances.group(key2(projectId, "dep_1"))
    expect(rows.map((i) => [i.instance_id, i.address, i.status])).toStrictEqual(instances)
  })
})

describe("the row cache's writes", () => {
  it("rows the cache did not hold are inserted; loaded rows it changed are updated; loaded rows it removed are deleted", () => {
    const first = fold(toLive.slice(0, 5))
    const steps = first.steps.flush()
    const instances = first.instances.flush()
    expect(steps.inserts.map((s) => s.step)).toStrictEqual(["build", "krane-create", "await-instances", "scrape-openapi"])
    expect(instances.inserts.map((i) => i.instance_id)).toStrictEqual(["i-1"])

    // The same rows as a later session reads them back from PostgreSQL.
    const later = new ReadModelRows()
    later.deployments.load([...first.deployments.flush().inserts])
    later.steps.load(steps.inserts.map((s) => ({ ...s })))
    later.instances.load(instances.inserts.map((i) => ({ ...i })))
    fold([specCaptured("dep_1"), observed("dep_1", instance(2))], later, 5)
    const changedSteps = later.steps.flush()
    // A second ready report ends await-instances again: a no-op update, as the statement-per-effect oracle does.
    expect(changedSteps.updates.map((s) => s.step)).toStrictEqual(["scrape-openapi", "await-instances"])
    expect(changedSteps.inserts.map((s) => s.step)).toStrictEqual(["assign-domains"])
    const changedInstances = later.instances.flush()
    expect(changedInstances.deletes.map((i) => i.instance_id)).toStrictEqual(["i-1"])
    expect(changedInstances.inserts.map((i) => i.instance_id)).toStrictEqual(["i-2"])
    // Flushed: nothing more to write.
    expect(later.steps.flush()).toStrictEqual({ inserts: [], updates: [], deletes: [] })
  })

  it("a row added and removed before a flush writes nothing", () => {
    const rows = fold([...toLive.slice(0, 5), observed("dep_1")])
    expect(rows.instances.flush()).toStrictEqual({ inserts: [], updates: [], deletes: [] })
  })
})

describe("what a batch can touch", () => {
  it("its projects, deployments (by project) and hostnames", () => {
    const [environment] = standardDomains("dep_1")
    const result = touched([
      { streamSeq: 1, envelope: { v: 1, projectId, commandId: null, previousVersion: 0, at: t0, events: [projectCreated, requested("dep_1")] } },
      {
        streamSeq: 2,
        envelope: {
          v: 1,
          projectId: "proj_2",
          commandId: null,
          previousVersion: 0,
          at: t0,
          events: [liveSwitched(null, "dep_9"), compensated("dep_1", ["a.example.com"]), { type: "DomainsSwitched", toDeploymentId: "dep_1", domains: environment === undefined ? [] : [environment], reason: "promote", routeRevision: 1 }]
        }
      }
    ])
    expect(result).toStrictEqual({
      projectIds: [projectId, "proj_2"],
      deploymentKeys: [[projectId, "dep_1"], ["proj_2", "dep_9"], ["proj_2", "dep_1"]],
      hostnames: ["a.example.com", environment?.hostname]
    })
  })
})
