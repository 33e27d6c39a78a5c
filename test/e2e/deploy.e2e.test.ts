/**
 * The whole system as a user meets it: Berth runs as a process (`tsx src/main.ts`) on a real
 * nats-server and PostgreSQL; another service publishes raw JSON commands with a plain NATS client;
 * the deployment is seen ready and live through the status API and in PostgreSQL. Krane is the
 * programmable fake behind the real Connect-JSON client. The admin token `npm start` generates is
 * what the CLI uses, found in the data dir without being told.
 */
import { execFile } from "node:child_process"
import { statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import postgres from "postgres"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { startFakeKraneHttpServer, type FakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"
import { startAppServer, type AppServer } from "../support/appServer.js"
import { type BerthProcess, startBerth } from "../support/berthProcess.js"
import { connectClient, createProjectCommand, deployCommand, type Client } from "../support/orchestrator.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
let client: Client
let app: AppServer
let krane: FakeKraneHttpServer
let databaseUrl: string
let sql: postgres.Sql

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

/** `berth <args>` as a user runs it: no BERTH_TOKEN or BERTH_API_URL, only what `env` adds. */
const cli = (args: ReadonlyArray<string>, env: Record<string, string>) => {
  const { BERTH_TOKEN: _token, BERTH_API_URL: _url, BERTH_DATA_DIR: _dir, ...inherited } = process.env
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(join(projectRoot, "node_modules/.bin/tsx"), ["src/cli/berth.ts", ...args], { cwd: projectRoot, env: { ...inherited, ...env } },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
  })
}

beforeAll(async () => {
  nats = await startTestNats()
  client = await connectClient(nats.url)
  app = await startAppServer()
  krane = await startFakeKraneHttpServer({ krane: makeFakeKrane() })
  krane.krane.setInstanceAddress(() => app.address)
  databaseUrl = await freshDatabase("e2e")
  sql = postgres(databaseUrl, { onnotice: () => {} })
})
afterAll(async () => {
  await sql?.end()
  await client?.close()
  await krane?.close()
  await app?.close()
  await nats?.stop()
})

const getJson = async (berth: BerthProcess, path: string): Promise<{ status: number; contentType: string | null; body: unknown }> => {
  const response = await fetch(`${berth.api}${path}`, { headers: berth.headers })
  return { status: response.status, contentType: response.headers.get("content-type"), body: await response.json() }
}

const eventually = async <A>(probe: () => Promise<A>, done: (value: A) => boolean, what: string, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  let last: A = await probe()
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last, null, 2)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    last = await probe()
  }
  return last
}

describe("Berth end to end", () => {
  it("takes raw JSON commands to a live deployment visible in the API and PostgreSQL", async () => {
    const berth = await startBerth({ NATS_URL: nats.url, DATABASE_URL: databaseUrl, KRANE_URL: krane.url })
    try {
      await client.publish("proj_e2e", createProjectCommand("proj_e2e"))
      await client.publish("proj_e2e", deployCommand("proj_e2e", "dep_e2e_1", { replicas: 2 }))

      const deployment = await eventually(
        () => getJson(berth, "/v1/deployments/dep_e2e_1"),
        (response) => response.status === 200 && (response.body as { isLive?: boolean }).isLive === true,
        "dep_e2e_1 to be live"
      )
      expect(deployment.body).toMatchObject({
        deploymentId: "dep_e2e_1",
        projectId: "proj_e2e",
        status: "ready",
        isLive: true,
        openApiCaptured: true
      })
      const body = deployment.body as {
        instances: ReadonlyArray<{ status: string; address: string }>
        domains: ReadonlyArray<{ hostname: string; sticky: string }>
        steps: ReadonlyArray<{ step: string; endedAt: unknown; error: unknown }>
      }
      expect(body.instances).toHaveLength(2)
      expect(body.instances.every((instance) => instance.status === "RUNNING")).toBe(true)
      expect(body.domains.map((domain) => [domain.hostname, domain.sticky]).sort()).toEqual(
        [
          ["e2e-acme.berth.test", "live"],
          ["e2e-dep-e2e-1-acme.berth.test", "deployment"],
          ["e2e-git-a1b2c3d-acme.berth.test", "none"],
          ["e2e-git-main-acme.berth.test", "branch"],
          ["e2e-production-acme.berth.test", "environment"]
        ].sort()
      )
      expect(body.steps.map((step) => step.step)).toEqual(
        expect.arrayContaining(["build", "krane-create", "await-instances", "scrape-openapi", "assign-domains"])
      )

      const project = await getJson(berth, "/v1/projects/proj_e2e")
      expect(project.body).toMatchObject({ projectId: "proj_e2e", liveDeploymentId: "dep_e2e_1", rolledBack: false })

      const rows = await sql`select status from deployments where deployment_id = 'dep_e2e_1'`
      expect(rows).toEqual([{ status: "ready" }])
      const live = await sql`select live_deployment_id from projects where project_id = 'proj_e2e'`
      expect(live).toEqual([{ live_deployment_id: "dep_e2e_1" }])
      const domains = await sql`select count(*)::int as n from domains where deployment_id = 'dep_e2e_1'`
      expect(domains).toEqual([{ n: 5 }])
      const spec = await sql`select size_bytes from openapi_specs where deployment_id = 'dep_e2e_1'`
      expect(spec).toHaveLength(1)

      const missing = await getJson(berth, "/v1/deployments/dep_nope")
      expect(missing.status).toBe(404)
      expect(missing.contentType).toContain("application/problem+json")

      // The generated admin token: owner-only, named (never shown) by the banner, found by the CLI.
      const tokenFile = join(berth.dataDir, "admin-token")
      expect(berth.token).toMatch(/^berth_admin_[A-Za-z0-9_-]{43}$/)
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600)
      expect(berth.output()).toContain(`admin token  ${tokenFile}`)
      expect(berth.output()).not.toContain(berth.token)
      const status = await cli(["status", "proj_e2e"], { BERTH_DATA_DIR: berth.dataDir })
      expect(status.stderr).toBe("")
      expect(status.stdout).toContain("dep_e2e_1")
      const anonymous = await fetch(`${berth.api}/v1/projects/proj_e2e`)
      expect(anonymous.status).toBe(401)
    } finally {
      await berth.kill()
    }
  })

  it("finishes a deployment after the process is killed with SIGKILL mid-way", async () => {
    krane.krane.neverReady()
    const first = await startBerth({ NATS_URL: nats.url, DATABASE_URL: databaseUrl, KRANE_URL: krane.url })
    await client.publish("proj_kill", createProjectCommand("proj_kill"))
    await client.publish("proj_kill", deployCommand("proj_kill", "dep_kill_1"))
    await client.waitForEvent("proj_kill", (event) => event.type === "InstancesObserved")
    await first.kill("SIGKILL")

    krane.krane.setReadyAfterPolls(0)
    const second = await startBerth({ NATS_URL: nats.url, DATABASE_URL: databaseUrl, KRANE_URL: krane.url })
    try {
      const events = await client.waitForEvent("proj_kill", (event) => event.type === "LiveSwitched", 30_000)
      expect(events.filter((event) => event.type === "KraneDeploymentCreated")).toHaveLength(1)
      expect(events.filter((event) => event.type === "DeploymentReady")).toHaveLength(1)
      const deployment = await eventually(
        () => getJson(second, "/v1/deployments/dep_kill_1"),
        (response) => (response.body as { isLive?: boolean }).isLive === true,
        "dep_kill_1 to be live after the restart"
      )
      expect(deployment.body).toMatchObject({ status: "ready", isLive: true })
    } finally {
      await second.kill()
    }
  })
})
