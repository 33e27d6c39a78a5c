/**
 * The step plan (nextSteps at each stage) and the route plan (planRoutes) over sequences of deployments.
 */
import { describe, expect, it } from "vitest"
import { stableHash } from "../../src/domain/domains.js"
import { planRoutes, routeTableWith, upstreamsFor } from "../../src/domain/routes.js"
import { initialState, type ProjectState } from "../../src/domain/state.js"
import { nextSteps, stepKey, type Step } from "../../src/domain/steps.js"
import {
  deadline,
  deploy,
  deploymentAt,
  finish,
  image,
  instance,
  kraneCreated,
  liveSwitched,
  observed,
  preview,
  production,
  projectCreated,
  record,
  requested,
  standardDomains,
  stateOf,
  type History
} from "./decider.js"

// ---------------------------------------------------------------------------------------------------
// nextSteps

const routesOf = (deploymentId: string, environmentId: string = production.id) =>
  Object.fromEntries(
    standardDomains(deploymentId, environmentId).map((domain) => [
      domain.hostname,
      { deploymentId, sticky: domain.sticky, environmentId }
    ])
  )

interface StepCase {
  readonly name: string
  readonly given: History
  readonly expected: ReadonlyArray<Step>
}

const stepCases: ReadonlyArray<StepCase> = [
  { name: "no project", given: [], expected: [] },
  { name: "a project without deployments", given: [projectCreated], expected: [] },
  {
    name: "building -> krane-create with the requested runtime",
    given: [
      projectCreated,
      { ...requested("dep_1", { replicas: 2 }), port: 3000, env: { LOG_LEVEL: "debug" } },
      { type: "DeploymentBuilding", deploymentId: "dep_1" }
    ],
    expected: [
      {
        kind: "krane-create",
        deploymentId: "dep_1",
        namespace: "acme",
        kraneDeploymentId: "proj_1--dep_1",
        source: image,
        replicas: 2,
        port: 3000,
        cpuMillicores: 512,
        memorySizeMib: 512,
        env: { LOG_LEVEL: "debug" }
      }
    ]
  },
  {
    name: "requested but not building -> nothing",
    given: [projectCreated, requested("dep_1")],
    expected: []
  },
  {
    name: "deploying -> await-instances with the recorded namespace and deadline",
    given: [projectCreated, ...deploymentAt("dep_1", "building"), kraneCreated("dep_1", 12_345, "ns-7")],
    expected: [{ kind: "await-instances", deploymentId: "dep_1", namespace: "ns-7", kraneDeploymentId: "proj_1--dep_1", readyDeadlineAt: 12_345 }]
  },
  {
    name: "deploying, 1 of 2 running -> still await-instances",
    given: [projectCreated, ...deploymentAt("dep_1", "deploying", { replicas: 2 }), observed("dep_1", instance(1))],
    expected: [{ kind: "await-instances", deploymentId: "dep_1", namespace: "acme", kraneDeploymentId: "proj_1--dep_1", readyDeadlineAt: deadline }]
  },
  {
    name: "all running -> scrape-openapi at every address, Berth's default path",
    given: [projectCreated, ...deploymentAt("dep_1", "running", { replicas: 2 })],
    expected: [
      { kind: "scrape-openapi", deploymentId: "dep_1", objectName: "proj_1/dep_1", path: undefined, addresses: ["10.0.0.1:8080", "10.0.0.2:8080"] }
    ]
  },
  {
    name: "all running -> scrape-openapi at the project's path",
    given: [{ ...projectCreated, openApiPath: "/docs/openapi.yaml" }, ...deploymentAt("dep_1", "running")],
    expected: [{ kind: "scrape-openapi", deploymentId: "dep_1", objectName: "proj_1/dep_1", path: "/docs/openapi.yaml", addresses: ["10.0.0.1:8080"] }]
  },
  {
    name: "spec captured -> assign-domains with the plan and the whole table",
    given: [projectCreated, ...deploymentAt("dep_1", "spec-captured")],
    expected: [
      {
        kind: "assign-domains",
        deploymentId: "dep_1",
        assign: standardDomains("dep_1"),
        withheld: [],
        table: { projectId: "proj_1", routes: routesOf("dep_1"), upstreams: { dep_1: ["10.0.0.1:8080"] } }
      }
    ]
  },
  {
    name: "spec not found -> assign-domains as well",
    given: [projectCreated, ...deploymentAt("dep_1", "spec-not-found", { environmentId: preview.id })],
    expected: [
      {
        kind: "assign-domains",
        deploymentId: "dep_1",
        assign: standardDomains("dep_1", preview.id),
        withheld: [],
        table: {
          projectId: "proj_1",
          routes: routesOf("dep_1", preview.id),
          upstreams: { dep_1: ["10.0.0.1:8080"] }
        }
      }
    ]
  },
  {
    name: "a second production deployment: the table keeps the first's per-deployment route and upstreams",
    given: [
      projectCreated,
      ...deploymentAt("dep_1", "ready"),
      liveSwitched(null, "dep_1"),
      ...deploymentAt("dep_2", "spec-captured", { replicas: 2 })
    ],
    expected: [
      {
        kind: "assign-domains",
        deploymentId: "dep_2",
        assign: standardDomains("dep_2"),
        withheld: [],
        table: {
          projectId: "proj_1",
          routes: { ...routesOf("dep_1"), ...routesOf("dep_2") },
          upstreams: { dep_1: ["10.0.0.1:8080"], dep_2: ["10.0.0.1:8080", "10.0.0.2:8080"] }
        }
      }
    ]
  },
  {
    name: "upstreams list running instances only",
    given: [
      projectCreated,
      ...deploymentAt("dep_1", "ready"),
      liveSwitched(null, "dep_1"),
      observed("dep_1", instance(1), instance(2, "TERMINATING")),
      ...deploymentAt("dep_2", "spec-captured", { environmentId: preview.id })
    ],
    expected: [
      {
        kind: "assign-domains",
        deploymentId: "dep_2",
        assign: standardDomains("dep_2", preview.id),
        withheld: [],
        table: {
          projectId: "proj_1",
          routes: { ...routesOf("dep_1"), ...routesOf("dep_2", preview.id) },
          upstreams: { dep_1: ["10.0.0.1:8080"], dep_2: ["10.0.0.1:8080"] }
        }
      }
    ]
  },
  { name: "ready -> nothing", given: [projectCreated, ...deploymentAt("dep_1", "ready")], expected: [] },
  {
    name: "failed, not compensated yet -> compensate (namespace: the workspace when Krane never created it)",
    given: [projectCreated, ...deploymentAt("dep_1", "failed")],
    expected: [{ kind: "compensate", deploymentId: "dep_1", namespace: "acme", kraneDeploymentId: "proj_1--dep_1" }]
  },
  {
    name: "failed and compensated -> nothing",
    given: [
      projectCreated,
      ...deploymentAt("dep_1", "failed"),
      { type: "DeploymentCompensated", deploymentId: "dep_1", kraneDeleted: true, releasedDomains: [] }
    ],
    expected: []
  },
  {
    name: "one step per deployment in flight or to compensate, none for ready ones",
    given: [
      projectCreated,
      ...deploymentAt("dep_1", "ready"),
      ...deploymentAt("dep_2", "failed"),
      ...deploymentAt("dep_3", "building"),
      ...deploymentAt("dep_4", "deploying")
    ],
    expected: [
      { kind: "compensate", deploymentId: "dep_2", namespace: "acme", kraneDeploymentId: "proj_1--dep_2" },
      {
        kind: "krane-create",
        deploymentId: "dep_3",
        namespace: "acme",
        kraneDeploymentId: "proj_1--dep_3",
        source: image,
        replicas: 1,
        port: 8080,
        cpuMillicores: 512,
        memorySizeMib: 512,
        env: {}
      },
      { kind: "await-instances", deploymentId: "dep_4", namespace: "acme", kraneDeploymentId: "proj_1--dep_4", readyDeadlineAt: deadline }
    ]
  }
]

describe("nextSteps", () => {
  it.each(stepCases)("$name", ({ given, expected }) => {
    expect(nextSteps(stateOf(given))).toStrictEqual(expected)
  })

  it("stepKey is kind and deployment", () => {
    const [step] = nextSteps(stateOf([projectCreated, ...deploymentAt("dep_1", "building")]))
    expect(step === undefined ? undefined : stepKey(step)).toBe("krane-create:dep_1")
  })

  it("a whole deployment driven by its steps ends ready and live, with nothing left to do", () => {
    const state = finish(record(stateOf([projectCreated]), deploy()), "dep_1")
    expect(state.deployments["dep_1"]?.status).toBe("ready")
    expect(state.liveDeploymentId).toBe("dep_1")
    expect(nextSteps(state)).toStrictEqual([])
  })
})

// ---------------------------------------------------------------------------------------------------
// planRoutes over sequences

type Op =
  | {
      readonly deploy: string
      readonly env?: "production" | "preview"
      readonly sha?: string
      readonly branch?: string
    }
  | { readonly finish: string }
  /**
   * Rollback is not implemented yet; this builds the state it would leave: live pointer and the
   * production live and environment hostnames on `rollBackTo`, rolledBack set.
   */
  | { readonly rollBackTo: string }

const apply = (state: ProjectState, op: Op): ProjectState => {
  if ("finish" in op) return finish(state, op.finish)
  if ("rollBackTo" in op) {
    const routes = Object.fromEntries(
      Object.entries(state.routes).map(([hostname, route]) => [
        hostname,
        route.environmentId === production.id && (route.sticky === "live" || route.sticky === "environment")
          ? { ...route, deploymentId: op.rollBackTo }
          : route
      ])
    )
    return { ...state, routes, liveDeploymentId: op.rollBackTo, rolledBack: true }
  }
  const git =
    op.sha === undefined ? undefined : { sha: op.sha, ...(op.branch === undefined ? {} : { branch: op.branch }) }
  return record(
    state,
    deploy({
      deploymentId: op.deploy,
      environmentId: op.env === "preview" ? preview.id : production.id,
      ...(git === undefined ? {} : { git })
    })
  )
}

const play = (ops: ReadonlyArray<Op>): ProjectState => ops.reduce(apply, record(initialState, createProjectCommand))

const createProjectCommand = {
  type: "CreateProject",
  commandId: "cmd_create",
  projectId: projectCreated.projectId,
  workspace: projectCreated.workspace,
  slug: projectCreated.slug,
  apexDomain: projectCreated.apexDomain,
  environments: [production, preview]
} as const

const host = (middle: string) => `shop-${middle}-acme.berth.localhost`
const live = "shop-acme.berth.localhost"

const routeTable = (state: ProjectState): Record<string, string> =>
  Object.fromEntries(Object.entries(state.routes).map(([hostname, route]) => [hostname, route.deploymentId]))

interface SequenceCase {
  readonly name: string
  readonly ops: ReadonlyArray<Op>
  /** hostname -> deploymentId */
  readonly routes: Readonly<Record<string, string>>
  readonly live: string | null
}

const d1 = { deploy: "dep_1", sha: "aaaaaaa1", branch: "main" } as const
const d2 = { deploy: "dep_2", sha: "bbbbbbb2", branch: "main" } as const

const sequences: ReadonlyArray<SequenceCase> = [
  {
    name: "deploy d1 to production",
    ops: [d1, { finish: "dep_1" }],
    routes: {
      [host("git-aaaaaaa")]: "dep_1",
      [host("git-main")]: "dep_1",
      [host("production")]: "dep_1",
      [live]: "dep_1",
      [host("dep-1")]: "dep_1"
    },
    live: "dep_1"
  },
  {
    name: "deploy d1, then d2: sticky hostnames move to d2, d1 keeps its commit and own hostname",
    ops: [d1, { finish: "dep_1" }, d2, { finish: "dep_2" }],
    routes: {
      [host("git-aaaaaaa")]: "dep_1",
      [host("dep-1")]: "dep_1",
      [host("git-bbbbbbb")]: "dep_2",
      [host("git-main")]: "dep_2",
      [host("production")]: "dep_2",
      [live]: "dep_2",
      [host("dep-2")]: "dep_2"
    },
    live: "dep_2"
  },
  {
    name: "d2 finishes before d1: branch, environment and live stay with the newer d2",
    ops: [d1, d2, { finish: "dep_2" }, { finish: "dep_1" }],
    routes: {
      [host("git-bbbbbbb")]: "dep_2",
      [host("git-main")]: "dep_2",
      [host("production")]: "dep_2",
      [live]: "dep_2",
      [host("dep-2")]: "dep_2",
      [host("git-aaaaaaa")]: "dep_1",
      [host("dep-1")]: "dep_1"
    },
    live: "dep_2"
  },
  {
    name: "a branch hostname held by a newer preview deployment stays there",
    ops: [
      { deploy: "dep_1", sha: "aaaaaaa1", branch: "feature/x" },
      { deploy: "dep_2", env: "preview", sha: "bbbbbbb2", branch: "feature/x" },
      { finish: "dep_2" },
      { finish: "dep_1" }
    ],
    routes: {
      [host("git-bbbbbbb")]: "dep_2",
      [host("git-feature-x")]: "dep_2",
      [host("preview")]: "dep_2",
      [host("dep-2")]: "dep_2",
      [host("git-aaaaaaa")]: "dep_1",
      [host("production")]: "dep_1",
      [live]: "dep_1",
      [host("dep-1")]: "dep_1"
    },
    live: "dep_1"
  },
  {
    name: "preview only: no live hostname, no live pointer",
    ops: [{ deploy: "dep_1", env: "preview", sha: "ccccccc3", branch: "Feature/Login_Page" }, { finish: "dep_1" }],
    routes: {
      [host("git-ccccccc")]: "dep_1",
      [host("git-feature-login-page")]: "dep_1",
      [host("preview")]: "dep_1",
      [host("dep-1")]: "dep_1"
    },
    live: null
  },
  {
    name: "production and preview keep separate environment hostnames",
    ops: [
      { deploy: "dep_1" },
      { finish: "dep_1" },
      { deploy: "dep_2", env: "preview" },
      { finish: "dep_2" }
    ],
    routes: {
      [host("production")]: "dep_1",
      [live]: "dep_1",
      [host("dep-1")]: "dep_1",
      [host("preview")]: "dep_2",
      [host("dep-2")]: "dep_2"
    },
    live: "dep_1"
  },
  {
    name: "rolled back to d1: d3 moves branch, commit and its own hostname, not live or environment",
    ops: [
      d1,
      { finish: "dep_1" },
      d2,
      { finish: "dep_2" },
      { rollBackTo: "dep_1" },
      { deploy: "dep_3", sha: "ccccccc3", branch: "main" },
      { finish: "dep_3" }
    ],
    routes: {
      [host("git-aaaaaaa")]: "dep_1",
      [host("dep-1")]: "dep_1",
      [host("production")]: "dep_1",
      [live]: "dep_1",
      [host("git-bbbbbbb")]: "dep_2",
      [host("dep-2")]: "dep_2",
      [host("git-ccccccc")]: "dep_3",
      [host("git-main")]: "dep_3",
      [host("dep-3")]: "dep_3"
    },
    live: "dep_1"
  },
  {
    name: "rolled back: a preview deployment still takes the preview environment hostname",
    ops: [
      { deploy: "dep_1" },
      { finish: "dep_1" },
      { deploy: "dep_2", env: "preview" },
      { finish: "dep_2" },
      { deploy: "dep_3" },
      { finish: "dep_3" },
      { rollBackTo: "dep_1" },
      { deploy: "dep_4", env: "preview", sha: "ddddddd4", branch: "feat" },
      { finish: "dep_4" }
    ],
    routes: {
      [host("production")]: "dep_1",
      [live]: "dep_1",
      [host("dep-1")]: "dep_1",
      [host("dep-2")]: "dep_2",
      [host("dep-3")]: "dep_3",
      [host("preview")]: "dep_4",
      [host("git-ddddddd")]: "dep_4",
      [host("git-feat")]: "dep_4",
      [host("dep-4")]: "dep_4"
    },
    live: "dep_1"
  },
  {
    // routes.ts's header says commit hostnames "always go to the deployment"; the code treats them
    // like sticky ones (only `deployment` hostnames always move). This row pins the code.
    name: "same commit deployed twice, the older finishing last: the commit hostname stays with the newer",
    ops: [
      { deploy: "dep_1", sha: "aaaaaaa1" },
      { deploy: "dep_2", sha: "aaaaaaa1" },
      { finish: "dep_2" },
      { finish: "dep_1" }
    ],
    routes: {
      [host("git-aaaaaaa")]: "dep_2",
      [host("git-main")]: "dep_2",
      [host("production")]: "dep_2",
      [live]: "dep_2",
      [host("dep-2")]: "dep_2",
      [host("dep-1")]: "dep_1"
    },
    live: "dep_2"
  },
  {
    name: "ids differing only in case get distinct per-deployment hostnames",
    ops: [
      { deploy: "dep_a", env: "preview" },
      { finish: "dep_a" },
      { deploy: "dep_A", env: "preview" },
      { finish: "dep_A" }
    ],
    routes: {
      [host("preview")]: "dep_A",
      [host("dep-a")]: "dep_a",
      [host(`dep-a-${stableHash("dep_A").slice(-4)}`)]: "dep_A"
    },
    live: null
  }
]

describe("planRoutes over sequences", () => {
  it.each(sequences)("$name", ({ ops, routes, live: expectedLive }) => {
    const state = play(ops)
    expect(routeTable(state)).toStrictEqual(routes)
    expect(state.liveDeploymentId).toBe(expectedLive)
    for (const deployment of Object.values(state.deployments)) expect(deployment.status, deployment.id).toBe("ready")
  })
})

interface PlanCase {
  readonly name: string
  readonly ops: ReadonlyArray<Op>
  readonly plan: string
  readonly assign: ReadonlyArray<string>
  readonly withheld: ReadonlyArray<string>
}

/** Each case plans for a deployment that was requested but not finished. */
const plans: ReadonlyArray<PlanCase> = [
  { name: "unknown deployment", ops: [], plan: "dep_9", assign: [], withheld: [] },
  {
    name: "first production deployment takes everything, in buildDomains order",
    ops: [d1],
    plan: "dep_1",
    assign: [host("git-aaaaaaa"), host("git-main"), host("production"), live, host("dep-1")],
    withheld: []
  },
  {
    name: "a newer deployment holds branch, environment and live",
    ops: [d1, d2, { finish: "dep_2" }],
    plan: "dep_1",
    assign: [host("git-aaaaaaa"), host("dep-1")],
    withheld: [host("git-main"), host("production"), live]
  },
  {
    name: "an older deployment's hostnames are taken over",
    ops: [d1, { finish: "dep_1" }, d2],
    plan: "dep_2",
    assign: [host("git-bbbbbbb"), host("git-main"), host("production"), live, host("dep-2")],
    withheld: []
  },
  {
    name: "rolled back production: live and environment withheld, branch moves",
    ops: [d1, { finish: "dep_1" }, d2, { finish: "dep_2" }, { rollBackTo: "dep_1" }, { deploy: "dep_3", sha: "ccccccc3", branch: "main" }],
    plan: "dep_3",
    assign: [host("git-ccccccc"), host("git-main"), host("dep-3")],
    withheld: [host("production"), live]
  },
  {
    name: "rolled back production, a brand-new branch: only live and environment withheld",
    ops: [d1, { finish: "dep_1" }, { rollBackTo: "dep_1" }, { deploy: "dep_2", sha: "ccccccc3", branch: "hotfix" }],
    plan: "dep_2",
    assign: [host("git-ccccccc"), host("git-hotfix"), host("dep-2")],
    withheld: [host("production"), live]
  },
  {
    name: "rolled back, preview deployment: nothing withheld",
    ops: [d1, { finish: "dep_1" }, { rollBackTo: "dep_1" }, { deploy: "dep_2", env: "preview", branch: "x", sha: "ddddddd" }],
    plan: "dep_2",
    assign: [host("git-ddddddd"), host("git-x"), host("preview"), host("dep-2")],
    withheld: []
  },
  {
    name: "rolled back, and the branch held by a newer deployment: withheld too",
    ops: [
      d1,
      { finish: "dep_1" },
      { rollBackTo: "dep_1" },
      { deploy: "dep_2", sha: "bbbbbbb2", branch: "main" },
      { deploy: "dep_3", sha: "ccccccc3", branch: "main" },
      { finish: "dep_3" }
    ],
    plan: "dep_2",
    assign: [host("git-bbbbbbb"), host("dep-2")],
    withheld: [host("git-main"), host("production"), live]
  }
]

describe("planRoutes", () => {
  it.each(plans)("$name", ({ ops, plan: deploymentId, assign, withheld }) => {
    const plan = planRoutes(play(ops), deploymentId)
    expect({
      assign: plan.assign.map((domain) => domain.hostname),
      withheld: plan.withheld.map((domain) => domain.hostname)
    }).toStrictEqual({ assign, withheld })
  })

  it("no project, no plan", () => {
    expect(planRoutes(initialState, "dep_1")).toStrictEqual({ assign: [], withheld: [] })
  })

  it("a hostname whose holder is no longer hot (retired, older) goes to the new deployment", () => {
    const state = stateOf([projectCreated, ...deploymentAt("dep_1", "ready"), ...deploymentAt("dep_2", "spec-captured")])
    const { dep_1: _retired, ...hot } = state.deployments
    expect(planRoutes({ ...state, deployments: hot }, "dep_2")).toStrictEqual({ assign: standardDomains("dep_2"), withheld: [] })
  })

  it("the route table leaves out upstreams of holders that are not hot, and a deployment that is not hot takes nothing", () => {
    const state = stateOf([projectCreated, ...deploymentAt("dep_1", "ready")])
    const { dep_1: _retired, ...hot } = state.deployments
    const without = { ...state, deployments: hot }
    expect(upstreamsFor(without, state.routes)).toStrictEqual({})
    expect(routeTableWith(without, "dep_1", standardDomains("dep_1")).routes).toStrictEqual(state.routes)
  })

  it("a deployment in an environment the project does not have gets no hostname (a log from before environments were checked)", () => {
    const state = stateOf([projectCreated, ...deploymentAt("dep_1", "spec-captured", { environmentId: "env_gone" })])
    expect(planRoutes(state, "dep_1")).toStrictEqual({ assign: [], withheld: [] })
  })
})
