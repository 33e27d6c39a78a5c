/**
 * The retirement helpers one by one (retirement.ts), on small hand-made states: the merge of retired
 * route tables, which ids are reinstated and how, what a state refers to but does not hold (a missing
 * live deployment), and the whole route table with retired routes under the hot ones.
 */
import { describe, expect, it } from "vitest"
import {
  deploymentsNamedBy,
  mayBeRetired,
  mergeRetiredRoutes,
  missingReferences,
  noRetiredRoutes,
  rebuildRetiredRoutes,
  reinstate,
  retire,
  toReinstate,
  withRetiredRoutes,
  type Retirement,
  type RetiredRoutes
} from "../../src/domain/retirement.js"
import type { RouteTable } from "../../src/domain/routes.js"
import type { ProjectState, RouteEntry } from "../../src/domain/state.js"
import { deploymentAt, instance, liveSwitched, observed, projectCreated, stateOf } from "./decider.js"

const route = (deploymentId: string, sticky: RouteEntry["sticky"] = "deployment"): RouteEntry => ({
  deploymentId,
  sticky,
  environmentId: "env_prod"
})

const retiredTable = (asOf: number, routes: Record<string, RouteEntry>, upstreams: Record<string, ReadonlyArray<string>>): RetiredRoutes => ({
  asOf,
  routes,
  upstreams
})

/** A retirement whose hot state holds `hotRoutes` and whose leaving routes are `routes`. */
const retirementOf = (hotRoutes: Record<string, RouteEntry>, routes: RetiredRoutes): Retirement => ({
  state: { ...stateOf([projectCreated]), routes: hotRoutes },
  retired: [],
  routes
})

describe("merging the retired route table", () => {
  const previous = retiredTable(
    10,
    { "a.test": route("dep_1"), "b.test": route("dep_2"), "c.test": route("dep_3") },
    { dep_1: ["10.0.0.1:8080"], dep_2: ["10.0.0.2:8080"], dep_3: ["10.0.0.3:8080"] }
  )

  it("keeps previous routes no hot route touches, and adds the routes that just left", () => {
    const merged = mergeRetiredRoutes(previous, retirementOf({}, retiredTable(20, { "d.test": route("dep_4") }, { dep_4: ["10.0.0.4:8080"] })))
    expect(merged).toEqual({
      asOf: 20,
      routes: { "a.test": route("dep_1"), "b.test": route("dep_2"), "c.test": route("dep_3"), "d.test": route("dep_4") },
      upstreams: { dep_1: ["10.0.0.1:8080"], dep_2: ["10.0.0.2:8080"], dep_3: ["10.0.0.3:8080"], dep_4: ["10.0.0.4:8080"] }
    })
  })

  it("drops a hostname a hot route has given to another deployment, with the upstreams nobody needs any more", () => {
    const merged = mergeRetiredRoutes(previous, retirementOf({ "b.test": route("dep_9") }, noRetiredRoutes))
    expect(merged.routes).toEqual({ "a.test": route("dep_1"), "c.test": route("dep_3") })
    expect(merged.upstreams).toEqual({ dep_1: ["10.0.0.1:8080"], dep_3: ["10.0.0.3:8080"] })
  })

  it("keeps a hostname whose hot route names the same deployment", () => {
    const merged = mergeRetiredRoutes(previous, retirementOf({ "b.test": route("dep_2") }, noRetiredRoutes))
    expect(merged.routes["b.test"]).toEqual(route("dep_2"))
  })

  it("lets a route that just left replace the previous one for the same hostname, with its fresh upstreams", () => {
    const merged = mergeRetiredRoutes(
      previous,
      retirementOf({}, retiredTable(20, { "a.test": route("dep_5") }, { dep_5: ["10.0.0.5:8080"], dep_1: ["10.9.9.9:8080"] }))
    )
    expect(merged.routes["a.test"]).toEqual(route("dep_5"))
    expect(merged.upstreams["dep_5"]).toEqual(["10.0.0.5:8080"])
    expect(merged.upstreams["dep_1"]).toBeUndefined()
  })

  it("prefers the retirement's upstreams over the previous ones for the same deployment", () => {
    const merged = mergeRetiredRoutes(previous, retirementOf({}, retiredTable(20, { "e.test": route("dep_1") }, { dep_1: ["10.1.1.1:8080"] })))
    expect(merged.upstreams["dep_1"]).toEqual(["10.1.1.1:8080"])
  })

  it("keeps the later asOf, whichever side has it", () => {
    expect(mergeRetiredRoutes(previous, retirementOf({}, noRetiredRoutes)).asOf).toBe(10)
    expect(mergeRetiredRoutes(noRetiredRoutes, retirementOf({}, retiredTable(7, {}, {}))).asOf).toBe(7)
  })

  it("leaves out upstreams for a holder neither side knows", () => {
    const merged = mergeRetiredRoutes(noRetiredRoutes, retirementOf({}, retiredTable(3, { "x.test": route("dep_x") }, {})))
    expect(merged).toStrictEqual({ asOf: 3, routes: { "x.test": route("dep_x") }, upstreams: {} })
  })
})

/**
 * dep_1, dep_2, dep_4 ready (dep_4 holds the live and environment hostnames), dep_3 in flight: with
 * keep 0, dep_1 and dep_2 retire; dep_4 (pinned) and dep_3 stay hot.
 */
const full = (): ProjectState =>
  stateOf([
    projectCreated,
    ...deploymentAt("dep_1", "ready"),
    ...deploymentAt("dep_2", "ready", { environmentId: "env_preview" }),
    liveSwitched(null, "dep_1"),
    ...deploymentAt("dep_3", "deploying")
  ])

/** dep_1 and dep_2 retired; dep_4 and dep_3 (in flight) hot. Built in each test, not once per file. */
const retiring = () => {
  const retirement = retire(
    stateOf([
      projectCreated,
      ...deploymentAt("dep_1", "ready"),
      ...deploymentAt("dep_2", "ready"),
      ...deploymentAt("dep_4", "ready"),
      ...deploymentAt("dep_3", "deploying")
    ]),
    { keep: 0, version: 50, busy: () => false }
  )
  const hotState = retirement.state
  const inFlight = hotState.deployments["dep_3"]
  if (inFlight === undefined) throw new Error("dep_3 is not hot")
  return { retirement, hotState, inFlight }
}

describe("reinstating retired deployments", () => {
  it("retires the finished ones of the fixture", () => {
    const { retirement, hotState } = retiring()
    expect(retirement.retired.map((d) => d.id).sort()).toEqual(["dep_1", "dep_2"])
    expect(Object.keys(hotState.deployments).sort()).toEqual(["dep_3", "dep_4"])
  })

  it("a retirement with nothing to retire hands back the same state and no routes", () => {
    const { hotState } = retiring()
    expect(retire(hotState, { keep: 0, version: 60, busy: () => true })).toEqual({ state: hotState, retired: [], routes: noRetiredRoutes })
    expect(retire(hotState, { keep: 0, version: 60, busy: () => true }).state).toBe(hotState)
  })

  it("toReinstate: named ids that are not hot and may be retired, each once", () => {
    const { hotState } = retiring()
    expect(toReinstate(hotState, ["dep_1", "dep_3", "dep_new", "dep_1", "dep_4", "dep_2"])).toEqual(["dep_1", "dep_2"])
    expect(toReinstate(hotState, [])).toEqual([])
  })

  it("toReinstate: not a deployment already reinstated (hot again, still in the digest)", () => {
    const { retirement, hotState } = retiring()
    const back = reinstate(hotState, retirement.retired)
    expect(mayBeRetired(back, "dep_1")).toBe(true)
    expect(toReinstate(back, ["dep_1", "dep_2"])).toEqual([])
  })

  it("toReinstate: nothing for a state that retired nothing", () => {
    expect(toReinstate(stateOf([projectCreated]), ["dep_1"])).toEqual([])
    expect(mayBeRetired(stateOf([projectCreated]), "dep_1")).toBe(false)
  })

  it("reinstate: puts them back as they were, leaves hot ones alone", () => {
    const { retirement, hotState, inFlight } = retiring()
    const back = reinstate(hotState, retirement.retired)
    expect(Object.keys(back.deployments).sort()).toEqual(["dep_1", "dep_2", "dep_3", "dep_4"])
    expect(back.deployments["dep_1"]).toBe(retirement.retired.find((d) => d.id === "dep_1"))
    const stale = { ...inFlight, status: "failed" as const }
    expect(reinstate(hotState, [stale]).deployments["dep_3"]?.status).toBe("deploying")
  })

  it("reinstate: the same state when nothing comes back", () => {
    const { hotState, inFlight } = retiring()
    expect(reinstate(hotState, [])).toBe(hotState)
    expect(reinstate(hotState, [inFlight])).toBe(hotState)
  })
})

describe("references the state does not hold", () => {
  it("none in a full state", () => {
    const state = full()
    expect(missingReferences(state)).toEqual([])
  })

  it("a missing live deployment", () => {
    const state = full()
    const { dep_1: _live, ...rest } = state.deployments
    const withoutLive: ProjectState = { ...state, deployments: rest, routes: {} }
    expect(missingReferences(withoutLive)).toEqual(["dep_1"])
  })

  it("a missing holder of hot routes, named once however many hostnames it holds", () => {
    const state = full()
    const { dep_2: _holder, ...rest } = state.deployments
    expect(missingReferences({ ...state, deployments: rest })).toEqual(["dep_2"])
  })

  it("no live deployment at all is not a reference", () => {
    const state = full()
    expect(missingReferences({ ...state, liveDeploymentId: null, routes: {} })).toEqual([])
  })
})

describe("the whole route table", () => {
  const table: RouteTable = {
    projectId: "proj_1",
    routes: { "hot.test": route("dep_3"), "shared.test": route("dep_3") },
    upstreams: { dep_3: ["10.0.0.3:8080"] }
  }
  const retired = retiredTable(
    9,
    { "old.test": route("dep_1"), "shared.test": route("dep_2"), "gone.test": route("dep_4") },
    { dep_1: ["10.0.0.1:8080"], dep_2: ["10.0.0.2:8080"] }
  )

  it("is the hot table alone when nothing is retired", () => {
    expect(withRetiredRoutes(table, noRetiredRoutes)).toBe(table)
  })

  it("puts retired routes under the hot ones, with upstreams only for holders still routed to", () => {
    expect(withRetiredRoutes(table, retired)).toStrictEqual({
      projectId: "proj_1",
      routes: { "hot.test": route("dep_3"), "shared.test": route("dep_3"), "old.test": route("dep_1"), "gone.test": route("dep_4") },
      upstreams: { dep_3: ["10.0.0.3:8080"], dep_1: ["10.0.0.1:8080"] }
    })
  })

  it("keeps the hot table's upstreams for a deployment both know", () => {
    const both = withRetiredRoutes(table, retiredTable(9, { "old.test": route("dep_3") }, { dep_3: ["10.9.9.9:8080"] }))
    expect(both.upstreams).toEqual({ dep_3: ["10.0.0.3:8080"] })
  })

  it("can be rebuilt: every route of the full state the hot one lacks, with RUNNING addresses only", () => {
    const fullState = stateOf([
      projectCreated,
      ...deploymentAt("dep_1", "ready"),
      observed("dep_1", instance(1), instance(2, "TERMINATING")),
      ...deploymentAt("dep_3", "deploying")
    ])
    const hot: ProjectState = { ...fullState, routes: {} }
    const rebuilt = rebuildRetiredRoutes(fullState, hot, 33)
    expect(rebuilt.asOf).toBe(33)
    expect(rebuilt.routes).toEqual(fullState.routes)
    expect(rebuilt.upstreams).toEqual({ dep_1: ["10.0.0.1:8080"] })
    expect(rebuildRetiredRoutes(fullState, fullState, 34)).toEqual({ asOf: 34, routes: {}, upstreams: {} })
    // A route whose holder the full state does not hold keeps its route, without upstreams.
    expect(rebuildRetiredRoutes({ ...fullState, deployments: {} }, hot, 35).upstreams).toStrictEqual({})
  })
})

describe("the deployments a command names", () => {
  it.each([
    { command: { type: "CreateProject", commandId: "c", projectId: "proj_1", workspace: "acme", slug: "shop", apexDomain: "berth.test", environments: [] }, named: [] },
    { command: { type: "Deploy", commandId: "c", projectId: "proj_1", deploymentId: "dep_1", environmentId: "env_prod" }, named: ["dep_1"] },
    { command: { type: "CancelDeployment", commandId: "c", projectId: "proj_1", deploymentId: "dep_2" }, named: ["dep_2"] },
    { command: { type: "Promote", commandId: "c", projectId: "proj_1", deploymentId: "dep_3" }, named: ["dep_3"] },
    { command: { type: "Rollback", commandId: "c", projectId: "proj_1", sourceDeploymentId: "dep_4", targetDeploymentId: "dep_5" }, named: ["dep_4", "dep_5"] }
  ] as const)("$command.type -> $named", ({ command, named }) => {
    expect(deploymentsNamedBy(command)).toEqual(named)
  })
})
