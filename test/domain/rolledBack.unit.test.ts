/**
 * The rolled-back rules (Unkey spec 3.8, with Berth's closed holes) as sequences of operations: after
 * each one, the live pointer, the rolled-back flag and the whole route table (hostname -> deployment).
 *
 * A tiny pure driver plays the actor: `deploy` decides a Deploy and runs the steps nextSteps asks for
 * (route writes as planRoutes plans them) until the deployment is ready; `rollback`/`promote` plan the
 * switch with one running instance and fold switchEvents; `reject*` expect the plan's rejection and
 * leave the state as it was.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { CancelDeployment, Deploy, Promote, Rollback } from "../../src/domain/commands.js"
import { planRoutes } from "../../src/domain/routes.js"
import { evolveAll, type ProjectState } from "../../src/domain/state.js"
import { planPromote, planRollback, switchEvents, type SwitchDecision } from "../../src/domain/switches.js"
import {
  branchHost,
  commitHost,
  deploy as deployCommand,
  deploymentHost,
  finish,
  liveHost,
  preview,
  previewHost,
  production,
  productionHost,
  projectCreated,
  projectId,
  record,
  routeMap,
  stateOf
} from "./decider.js"

// ---------------------------------------------------------------------------------------------------
// The driver

interface Action {
  readonly label: string
  readonly run: (state: ProjectState) => ProjectState
}

/** A distinct commit per deployment: dep_3 -> 3333333, prev_2 -> a2a2a2a. */
const shaOf = (deploymentId: string): string => {
  const n = deploymentId.replace(/\D/g, "")
  return (deploymentId.startsWith("prev") ? `a${n}` : n).repeat(7).slice(0, 7)
}

interface DeployOptions {
  readonly environment?: "production" | "preview"
  readonly branch?: string
}

const deployOf = (deploymentId: string, options: DeployOptions): Deploy =>
  deployCommand({
    deploymentId,
    environmentId: options.environment === "preview" ? preview.id : production.id,
    git: { sha: shaOf(deploymentId), branch: options.branch ?? "main" }
  })

const mustBeReady = (state: ProjectState, deploymentId: string): ProjectState => {
  const status = state.deployments[deploymentId]?.status
  if (status !== "ready") throw new Error(`${deploymentId} is ${String(status)}, not ready`)
  return state
}

/** Deploy and drive it to ready. */
const deploy = (deploymentId: string, options: DeployOptions = {}): Action => ({
  label: `deploy ${deploymentId}${options.environment === "preview" ? " (preview)" : ""}${options.branch === undefined ? "" : ` on ${options.branch}`}`,
  run: (state) => mustBeReady(finish(record(state, deployOf(deploymentId, options)), deploymentId), deploymentId)
})

/** Deploy only: the deployment stays building until `finishing`. */
const start = (deploymentId: string, options: DeployOptions = {}): Action => ({
  label: `start ${deploymentId} (building)`,
  run: (state) => record(state, deployOf(deploymentId, options))
})

const finishing = (deploymentId: string): Action => ({
  label: `${deploymentId} finishes`,
  run: (state) => mustBeReady(finish(state, deploymentId), deploymentId)
})

const cancel = (deploymentId: string): Action => ({
  label: `cancel ${deploymentId}, then compensate it`,
  run: (state) => {
    const command: CancelDeployment = { type: "CancelDeployment", commandId: `cmd_cancel_${deploymentId}`, projectId, deploymentId }
    const compensated = finish(record(state, command), deploymentId)
    if (compensated.deployments[deploymentId]?.compensated !== true) throw new Error(`${deploymentId} not compensated`)
    return compensated
  }
})

const rollbackCommand = (source: string, target: string): Rollback => ({
  type: "Rollback",
  commandId: `cmd_rollback_${source}_${target}`,
  projectId,
  sourceDeploymentId: source,
  targetDeploymentId: target
})

const promoteCommand = (deploymentId: string): Promote => ({
  type: "Promote",
  commandId: `cmd_promote_${deploymentId}`,
  projectId,
  deploymentId
})

const carryOut = (state: ProjectState, decision: SwitchDecision, commandId: string): ProjectState => {
  if (Either.isLeft(decision)) throw new Error(`rejected: ${decision.left.message}`)
  return evolveAll(state, switchEvents(decision.right, Object.keys(state.routes).length), commandId)
}

const expectRejected = (state: ProjectState, decision: SwitchDecision, message: string): ProjectState => {
  if (Either.isRight(decision)) throw new Error(`expected "${message}", got plan ${JSON.stringify(decision.right)}`)
  expect(decision.left.message).toBe(message)
  return state
}

const rollback = (source: string, target: string): Action => ({
  label: `rollback ${source} -> ${target}`,
  run: (state) => {
    const command = rollbackCommand(source, target)
    return carryOut(state, planRollback(state, command, 1), command.commandId)
  }
})

const promote = (deploymentId: string): Action => ({
  label: `promote ${deploymentId}`,
  run: (state) => {
    const command = promoteCommand(deploymentId)
    return carryOut(state, planPromote(state, command, 1), command.commandId)
  }
})

const rejectRollback = (source: string, target: string, message: string): Action => ({
  label: `rollback ${source} -> ${target} rejected`,
  run: (state) => expectRejected(state, planRollback(state, rollbackCommand(source, target), 1), message)
})

const rejectPromote = (deploymentId: string, message: string): Action => ({
  label: `promote ${deploymentId} rejected`,
  run: (state) => expectRejected(state, planPromote(state, promoteCommand(deploymentId), 1), message)
})

// ---------------------------------------------------------------------------------------------------
// Expected route tables

type Routes = Readonly<Record<string, string>>

/** The hostnames a deployment always keeps: its own and its commit's. */
const own = (...deploymentIds: ReadonlyArray<string>): Routes =>
  Object.fromEntries(
    deploymentIds.flatMap((id) => [
      [deploymentHost(id), id],
      [commitHost(shaOf(id)), id]
    ])
  )

/** Production's live and environment hostnames, and the main branch hostname. */
const prod = (liveAndEnvironment: string, main: string): Routes => ({
  [liveHost]: liveAndEnvironment,
  [productionHost]: liveAndEnvironment,
  [branchHost("main")]: main
})

interface Row {
  readonly action: Action
  readonly live: string | null
  readonly rolledBack: boolean
  readonly routes: Routes
}

interface Sequence {
  readonly name: string
  readonly rows: ReadonlyArray<Row>
}

const notLive = "source deployment is not the current live deployment"
const alreadyLive = "target deployment is already the live deployment"
const productionOnly = "Only production deployments can be promoted or rolled back."

const sequences: ReadonlyArray<Sequence> = [
  {
    name: "deploy, deploy, rollback, deploy, promote, rollback, promote (confirm), deploy",
    rows: [
      { action: deploy("dep_1"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1"), ...prod("dep_1", "dep_1") } },
      { action: deploy("dep_2"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } },
      // live and environment hostnames go back; the branch hostname stays with dep_2
      { action: rollback("dep_2", "dep_1"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2"), ...prod("dep_1", "dep_2") } },
      // ready, with its own, commit and branch hostnames; live and environment stay where the rollback put them
      { action: deploy("dep_3"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      { action: promote("dep_3"), live: "dep_3", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_3", "dep_3") } },
      { action: rollback("dep_3", "dep_2"), live: "dep_2", rolledBack: true, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_2", "dep_3") } },
      // confirm: nothing moves, the flag is cleared
      { action: promote("dep_2"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_2", "dep_3") } },
      { action: rejectPromote("dep_2", alreadyLive), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_2", "dep_3") } },
      // not rolled back any more: a new deployment takes everything
      { action: deploy("dep_4"), live: "dep_4", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3", "dep_4"), ...prod("dep_4", "dep_4") } }
    ]
  },
  {
    name: "preview and other-branch deployments while rolled back",
    rows: [
      { action: deploy("dep_1"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1"), ...prod("dep_1", "dep_1") } },
      { action: deploy("dep_2"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } },
      { action: rollback("dep_2", "dep_1"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2"), ...prod("dep_1", "dep_2") } },
      // preview hostnames move normally
      {
        action: deploy("prev_1", { environment: "preview", branch: "feature" }),
        live: "dep_1",
        rolledBack: true,
        routes: { ...own("dep_1", "dep_2", "prev_1"), ...prod("dep_1", "dep_2"), [previewHost]: "prev_1", [branchHost("feature")]: "prev_1" }
      },
      {
        action: deploy("prev_2", { environment: "preview", branch: "feature" }),
        live: "dep_1",
        rolledBack: true,
        routes: { ...own("dep_1", "dep_2", "prev_1", "prev_2"), ...prod("dep_1", "dep_2"), [previewHost]: "prev_2", [branchHost("feature")]: "prev_2" }
      },
      {
        action: rejectRollback("prev_2", "prev_1", notLive),
        live: "dep_1",
        rolledBack: true,
        routes: { ...own("dep_1", "dep_2", "prev_1", "prev_2"), ...prod("dep_1", "dep_2"), [previewHost]: "prev_2", [branchHost("feature")]: "prev_2" }
      },
      {
        action: rejectPromote("prev_1", productionOnly),
        live: "dep_1",
        rolledBack: true,
        routes: { ...own("dep_1", "dep_2", "prev_1", "prev_2"), ...prod("dep_1", "dep_2"), [previewHost]: "prev_2", [branchHost("feature")]: "prev_2" }
      },
      // a production deployment on a new branch: its branch hostname is new, main stays with dep_2
      {
        action: deploy("dep_3", { branch: "hotfix" }),
        live: "dep_1",
        rolledBack: true,
        routes: {
          ...own("dep_1", "dep_2", "prev_1", "prev_2", "dep_3"),
          ...prod("dep_1", "dep_2"),
          [branchHost("hotfix")]: "dep_3",
          [previewHost]: "prev_2",
          [branchHost("feature")]: "prev_2"
        }
      },
      // promote moves production's hostnames only
      {
        action: promote("dep_2"),
        live: "dep_2",
        rolledBack: false,
        routes: {
          ...own("dep_1", "dep_2", "prev_1", "prev_2", "dep_3"),
          ...prod("dep_2", "dep_2"),
          [branchHost("hotfix")]: "dep_3",
          [previewHost]: "prev_2",
          [branchHost("feature")]: "prev_2"
        }
      }
    ]
  },
  {
    name: "rollback while a deployment is building: decided at once; the building one respects the flag when ready",
    rows: [
      { action: deploy("dep_1"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1"), ...prod("dep_1", "dep_1") } },
      { action: deploy("dep_2"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } },
      { action: start("dep_3"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } },
      {
        action: rejectRollback("dep_2", "dep_3", "The deployment is not ready. (dep_3 is building)"),
        live: "dep_2",
        rolledBack: false,
        routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") }
      },
      {
        action: rejectPromote("dep_3", "deployment status must be ready, got: building"),
        live: "dep_2",
        rolledBack: false,
        routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") }
      },
      { action: rollback("dep_2", "dep_1"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2"), ...prod("dep_1", "dep_2") } },
      { action: finishing("dep_3"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      { action: promote("dep_3"), live: "dep_3", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_3", "dep_3") } }
    ]
  },
  {
    name: "a confirm while deployments are building: the one finishing after it takes live again",
    rows: [
      { action: deploy("dep_1"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1"), ...prod("dep_1", "dep_1") } },
      { action: deploy("dep_2"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } },
      { action: start("dep_3"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } },
      { action: start("dep_4"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } },
      { action: rollback("dep_2", "dep_1"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2"), ...prod("dep_1", "dep_2") } },
      // finishes while rolled back: stays off the live and environment hostnames
      { action: finishing("dep_3"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      { action: promote("dep_1"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      // finishes after the confirm: the flag is clear, so it goes live
      { action: finishing("dep_4"), live: "dep_4", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3", "dep_4"), ...prod("dep_4", "dep_4") } }
    ]
  },
  {
    name: "an older deployment finishing while rolled back gets only its own hostnames; it can still be promoted",
    rows: [
      { action: deploy("dep_1"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1"), ...prod("dep_1", "dep_1") } },
      { action: start("dep_2"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1"), ...prod("dep_1", "dep_1") } },
      { action: deploy("dep_3"), live: "dep_3", rolledBack: false, routes: { ...own("dep_1", "dep_3"), ...prod("dep_3", "dep_3") } },
      { action: rollback("dep_3", "dep_1"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_3"), ...prod("dep_1", "dep_3") } },
      // main is held by the newer dep_3
      { action: finishing("dep_2"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      { action: promote("dep_2"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_2", "dep_3") } },
      { action: deploy("dep_4"), live: "dep_4", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3", "dep_4"), ...prod("dep_4", "dep_4") } }
    ]
  },
  {
    name: "rollback twice, then confirm; the rolled-back-from deployments cannot be rollback sources",
    rows: [
      { action: deploy("dep_1"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1"), ...prod("dep_1", "dep_1") } },
      { action: deploy("dep_2"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } },
      { action: deploy("dep_3"), live: "dep_3", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_3", "dep_3") } },
      { action: rollback("dep_3", "dep_2"), live: "dep_2", rolledBack: true, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_2", "dep_3") } },
      { action: rollback("dep_2", "dep_1"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      { action: rejectRollback("dep_3", "dep_1", notLive), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      { action: rejectRollback("dep_2", "dep_1", notLive), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      { action: promote("dep_1"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      { action: rejectPromote("dep_1", alreadyLive), live: "dep_1", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3"), ...prod("dep_1", "dep_3") } },
      { action: deploy("dep_4"), live: "dep_4", rolledBack: false, routes: { ...own("dep_1", "dep_2", "dep_3", "dep_4"), ...prod("dep_4", "dep_4") } }
    ]
  },
  {
    name: "a deployment cancelled while rolled back holds nothing and cannot be promoted",
    rows: [
      { action: deploy("dep_1"), live: "dep_1", rolledBack: false, routes: { ...own("dep_1"), ...prod("dep_1", "dep_1") } },
      { action: deploy("dep_2"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } },
      { action: rollback("dep_2", "dep_1"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2"), ...prod("dep_1", "dep_2") } },
      { action: start("dep_3"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2"), ...prod("dep_1", "dep_2") } },
      { action: cancel("dep_3"), live: "dep_1", rolledBack: true, routes: { ...own("dep_1", "dep_2"), ...prod("dep_1", "dep_2") } },
      {
        action: rejectPromote("dep_3", "deployment status must be ready, got: cancelled"),
        live: "dep_1",
        rolledBack: true,
        routes: { ...own("dep_1", "dep_2"), ...prod("dep_1", "dep_2") }
      },
      { action: promote("dep_2"), live: "dep_2", rolledBack: false, routes: { ...own("dep_1", "dep_2"), ...prod("dep_2", "dep_2") } }
    ]
  }
]

describe("rolled-back rules, as sequences", () => {
  it.each(sequences)("$name", ({ rows }) => {
    let state = stateOf([projectCreated])
    rows.forEach(({ action, live, rolledBack, routes }, index) => {
      state = action.run(state)
      expect(
        { live: state.liveDeploymentId, rolledBack: state.rolledBack, routes: routeMap(state) },
        `after step ${index + 1}: ${action.label}`
      ).toStrictEqual({ live, rolledBack, routes })
    })
  })
})

describe("the hostnames of a deployment made while rolled back", () => {
  // Built in each test (not once per file), so mutation testing sees which tests fold and decide it.
  const rolledBackThenStarted = (): ProjectState =>
    [deploy("dep_1"), deploy("dep_2"), rollback("dep_2", "dep_1"), start("dep_3")].reduce((state, action) => action.run(state), stateOf([projectCreated]))

  it("planRoutes withholds production's live and environment hostnames, assigns the rest", () => {
    const state = rolledBackThenStarted()
    expect(planRoutes(state, "dep_3")).toStrictEqual({
      assign: [
        { hostname: commitHost(shaOf("dep_3")), sticky: "none" },
        { hostname: branchHost("main"), sticky: "branch" },
        { hostname: deploymentHost("dep_3"), sticky: "deployment" }
      ],
      withheld: [
        { hostname: productionHost, sticky: "environment" },
        { hostname: liveHost, sticky: "live" }
      ]
    })
  })

  it("the ready deployment records only the hostnames it took, and no LiveSwitched", () => {
    const ready = finishing("dep_3").run(rolledBackThenStarted())
    expect(ready.deployments["dep_3"]?.domains.map((d) => d.hostname)).toStrictEqual([
      commitHost(shaOf("dep_3")),
      branchHost("main"),
      deploymentHost("dep_3")
    ])
    expect(ready.liveDeploymentId).toBe("dep_1")
  })
})
