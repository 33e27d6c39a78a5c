/**
 * The `berth` CLI against the real thing: orchestrator (project actors, steps), projector and status
 * API on a real nats-server + PostgreSQL, with the programmable FakeKrane and a tiny app serving an
 * OpenAPI document. `project create --wait`, `deploy --wait` to live, rollback, a deploy that stays
 * ready but not live while rolled back, promote, a failing deploy, cancel with compensation, and a
 * rejected promote, all as a user types them.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { KraneUnavailable } from "../../src/adapters/krane/Krane.js"
import { startAppServer, type AppServer } from "../support/appServer.js"
import { type FakeKrane, makeFakeKrane } from "../support/FakeKrane.js"
import { type RunningOrchestrator, startOrchestrator } from "../support/orchestrator.js"
import { bearer, testAdminToken } from "../support/auth.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"
import { type TestApi, startTestApi } from "../support/apiServer.js"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))
const project = "proj_cli_e2e"

let nats: TestNats
let app: AppServer
let krane: FakeKrane
let orchestrator: RunningOrchestrator
let api: TestApi
let base: string

beforeAll(async () => {
  nats = await startTestNats()
  app = await startAppServer()
  krane = makeFakeKrane()
  krane.setInstanceAddress(() => app.address)
  krane.setReadyAfterPolls(1)
  orchestrator = await startOrchestrator(nats.url, krane.layer)
  const databaseUrl = await freshDatabase("cli_e2e")
  ;({ api, base } = await startTestApi(nats.url, databaseUrl))
})

afterAll(async () => {
  await orchestrator?.stop()
  await api?.dispose()
  await app?.close()
  await nats?.stop()
})

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const berth = (args: ReadonlyArray<string>): Promise<Run> =>
  new Promise((resolve) => {
    const child = spawn(join(projectRoot, "node_modules/.bin/tsx"), ["src/cli/berth.ts", ...args], {
      cwd: projectRoot,
      env: { ...process.env, BERTH_API_URL: base, BERTH_TOKEN: testAdminToken, TZ: "UTC" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.once("close", (code) => resolve({ code, stdout, stderr }))
  })

/** Runs and expects exit `code`; shows the output when it is not. */
const expectRun = async (args: ReadonlyArray<string>, code: number): Promise<string> => {
  const run = await berth(args)
  expect({ code: run.code, stderr: run.stderr, stdout: run.stdout }).toMatchObject({ code })
  return run.stdout
}

const deployArgs = (id: string, ...extra: ReadonlyArray<string>) =>
  ["deploy", project, "--id", id, "--sha", "a1b2c3d4e5f6", "--replicas", "2", ...extra, "--", "node", "server.js"]

describe("berth against a running orchestrator", () => {
  it("creates a project and deploys it to live, step by step", async () => {
    const created = await expectRun(["project", "create", project, "--workspace", "acme", "--slug", "shop", "--apex", "berth.test", "--wait"], 0)
    expect(created).toContain("✓ ProjectCreated")
    expect(created).toContain(`Project ${project} created.`)

    const out = await expectRun(deployArgs("dep_a", "--wait", "--timeout", "60s"), 0)
    for (const step of ["krane-create", "await-instances", "scrape-openapi", "assign-domains", "go-live"]) {
      expect(out).toMatch(new RegExp(`^  ✓ ${step} +\\d+\\.\\d\\ds$`, "m"))
    }
    // Instance ids are Krane's: the fake names them after the Krane deployment id, keyed by project.
    expect(out).toMatch(new RegExp(`^ {6}instance ${project}--dep_a-0 {2}127\\.0\\.0\\.1:\\d+ {2}RUNNING$`, "m"))
    expect(out).toMatch(/^✓ dep_a is ready and live in \d/m)
    expect(out).toMatch(/^ {4}shop-acme\.berth\.test +live$/m)

    const status = await expectRun(["status", project], 0)
    expect(status).toMatch(/^Live {9}dep_a$/m)
    expect(status).toMatch(/^dep_a\s+●\s+ready\s+env_cli_e2e_prod\s+a1b2c3d4e5f6 main/m)
  })

  it("rolls back, keeps a new deployment ready but not live, and promotes it", async () => {
    await expectRun(deployArgs("dep_b", "--wait"), 0)
    const rolledBack = await expectRun(["rollback", project, "--to", "dep_a", "--wait"], 0)
    expect(rolledBack).toMatch(/^✓ LiveSwitched +dep_b -> dep_a \(rollback\)$/m)
    expect(rolledBack).toContain(`${project} is rolled back to dep_a`)

    const held = await expectRun(deployArgs("dep_c", "--wait"), 0)
    expect(held).toContain(`✓ dep_c is ready (not live: ${project} is rolled back to dep_a; make it live with: berth promote ${project} dep_c)`)

    const promoted = await expectRun(["promote", project, "dep_c", "--wait"], 0)
    expect(promoted).toMatch(/^✓ LiveSwitched +dep_a -> dep_c \(promote\)$/m)
    expect(promoted).toContain("dep_c is live")
  })

  it("exits 1 with the step and reason when a deployment fails; a promote of it is rejected", async () => {
    krane.failCreate("always", new KraneUnavailable({ operation: "CreateDeployment", message: "connection refused" }))
    try {
      const failed = await berth(deployArgs("dep_f", "--wait"))
      expect(failed.code).toBe(1)
      expect(failed.stdout).toMatch(/^ {2}✗ krane-create .*connection refused/m)
      expect(failed.stdout).toMatch(/^✗ dep_f failed at krane-create in .*connection refused/m)
    } finally {
      krane.failCreate(0, new KraneUnavailable({ operation: "CreateDeployment", message: "unused" }))
    }
    const rejected = await berth(["promote", project, "dep_f", "--wait"])
    expect(rejected.code).toBe(1)
    expect(rejected.stdout).toMatch(/^✗ rejected \(precondition_failed\): /m)
  })

  it("cancels a deployment in progress and reports its compensation", async () => {
    krane.neverReady()
    try {
      await expectRun(deployArgs("dep_x"), 0)
      // The cancel endpoint needs the deployment in the read model.
      const deadline = Date.now() + 15_000
      while ((await fetch(`${base}/v1/deployments/dep_x`, { headers: bearer() })).status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      const out = await expectRun(["cancel", "dep_x", "--wait"], 0)
      expect(out).toMatch(/^✓ DeploymentCancelled +dep_x at (krane-create|await-instances)$/m)
      expect(out).toMatch(/^✓ DeploymentCompensated +dep_x krane deleted, released/m)
      expect(await expectRun(["status", "dep_x"], 0)).toMatch(/^Status +cancelled$/m)
    } finally {
      krane.setReadyAfterPolls(1)
    }
  })
})
