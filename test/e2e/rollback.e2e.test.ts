/**
 * Rollback and promote through the status API, end to end: Berth runs as a process on a real
 * nats-server and PostgreSQL; the commands go in over HTTP, and the hostnames are seen moving in
 * PostgreSQL (the read model) and in the route table (KV) the gateway reads.
 */
import postgres from "postgres"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { startFakeKraneHttpServer, type FakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"
import { startAppServer, type AppServer } from "../support/appServer.js"
import { startBerth, type BerthProcess } from "../support/berthProcess.js"
import { connectClient, createProjectCommand, type Client } from "../support/orchestrator.js"
import { readRouteTable } from "../support/routing.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
let client: Client
let app: AppServer
let krane: FakeKraneHttpServer
let sql: postgres.Sql
let berth: BerthProcess

beforeAll(async () => {
  nats = await startTestNats()
  client = await connectClient(nats.url)
  app = await startAppServer()
  krane = await startFakeKraneHttpServer({ krane: makeFakeKrane() })
  krane.krane.setInstanceAddress(() => app.address)
  const databaseUrl = await freshDatabase("e2e_rb")
  sql = postgres(databaseUrl, { onnotice: () => {} })
  berth = await startBerth({ NATS_URL: nats.url, DATABASE_URL: databaseUrl, KRANE_URL: krane.url })
})
afterAll(async () => {
  await berth?.kill()
  await sql?.end()
  await client?.close()
  await krane?.close()
  await app?.close()
  await nats?.stop()
})

const projectId = "proj_api"
const liveHost = "api-acme.berth.test"
const environmentHost = "api-production-acme.berth.test"

const post = async (path: string, body: unknown) => {
  const response = await fetch(`${berth.api}${path}`, {
    method: "POST",
    headers: { ...berth.headers, "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return { status: response.status, contentType: response.headers.get("content-type"), body: (await response.json()) as Record<string, unknown> }
}

const eventually = async <A>(probe: () => Promise<A>, done: (value: A) => boolean, what: string, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  let last = await probe()
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    last = await probe()
  }
  return last
}

const hostnamesInPostgres = async () => {
  const rows = await sql<Array<{ hostname: string; deployment_id: string }>>`
    select hostname, deployment_id from domains where hostname in (${liveHost}, ${environmentHost}) order by hostname`
  return Object.fromEntries(rows.map((row) => [row.hostname, row.deployment_id]))
}
const projectRow = async () =>
  (await sql<Array<{ live_deployment_id: string | null; rolled_back: boolean }>>`
    select live_deployment_id, rolled_back from projects where project_id = ${projectId}`)[0]

const deployThroughApi = async (deploymentId: string, sha: string) => {
  const accepted = await post(`/v1/projects/${projectId}/deployments`, {
    deploymentId,
    environmentId: "env_prod",
    source: { command: ["node", "server.js"] },
    git: { sha, branch: "main" }
  })
  expect(accepted.status).toBe(202)
  expect(accepted.body).toMatchObject({ projectId, deploymentId })
  await eventually(projectRow, (row) => row?.live_deployment_id === deploymentId, `${deploymentId} to go live`)
}

describe("rollback and promote through the API", () => {
  it("moves the live and environment hostnames in PostgreSQL and in the route table", async () => {
    await client.publish(projectId, createProjectCommand(projectId))
    await eventually(async () => (await fetch(`${berth.api}/v1/projects/${projectId}`, { headers: berth.headers })).status, (status) => status === 200, "the project")
    await deployThroughApi("dep_a", "aaaaaaa")
    await deployThroughApi("dep_b", "bbbbbbb")
    expect(await hostnamesInPostgres()).toEqual({ [liveHost]: "dep_b", [environmentHost]: "dep_b" })

    const rollback = await post(`/v1/projects/${projectId}/rollback`, { targetDeploymentId: "dep_a" })
    expect(rollback.status).toBe(202)
    expect(rollback.body).toMatchObject({ projectId, sourceDeploymentId: "dep_b", targetDeploymentId: "dep_a" })
    await eventually(projectRow, (row) => row?.live_deployment_id === "dep_a" && row.rolled_back, "the rollback")
    expect(await hostnamesInPostgres()).toEqual({ [liveHost]: "dep_a", [environmentHost]: "dep_a" })
    expect(await readRouteTable(client.nc, projectId)).toMatchObject({ [liveHost]: "dep_a", [environmentHost]: "dep_a" })

    const promote = await post(`/v1/projects/${projectId}/promote`, { deploymentId: "dep_b" })
    expect(promote.status).toBe(202)
    await eventually(projectRow, (row) => row?.live_deployment_id === "dep_b" && !row.rolled_back, "the promote")
    expect(await hostnamesInPostgres()).toEqual({ [liveHost]: "dep_b", [environmentHost]: "dep_b" })
    expect(await readRouteTable(client.nc, projectId)).toMatchObject({ [liveHost]: "dep_b", [environmentHost]: "dep_b" })

    const events = await eventually(
      async () =>
        (await (await fetch(`${berth.api}/v1/projects/${projectId}/events?limit=500`, { headers: berth.headers })).json()) as {
          events: Array<{ type: string; actor: string | null }>
        },
      (page) => page.events.filter((event) => event.type === "DomainsSwitched").length === 2,
      "both switches in the audit trail"
    )
    expect(events.events.filter((event) => event.type === "LiveSwitched")).toHaveLength(4)
    // Who did what: the commands sent through the API carry the admin token's id (the API and the
    // orchestrator processes share the generated actor key); the raw CreateProject is `nats`'.
    const actorsOf = (type: string) => [...new Set(events.events.filter((event) => event.type === type).map((event) => event.actor))]
    expect(actorsOf("ProjectCreated")).toEqual(["nats"])
    expect(actorsOf("DeploymentRequested")).toEqual(["admin"])
    expect(actorsOf("DomainsSwitched")).toEqual(["admin"])
  })

  it("answers malformed or impossible requests with problem+json", async () => {
    const malformed = await post(`/v1/projects/${projectId}/promote`, { deployment: "dep_b" })
    expect(malformed.status).toBe(400)
    expect(malformed.contentType).toContain("application/problem+json")
    const unknownProject = await post(`/v1/projects/proj_nobody/rollback`, { targetDeploymentId: "dep_a" })
    expect(unknownProject.status).toBe(404)
    const duplicate = await post(`/v1/projects/${projectId}/deployments`, {
      deploymentId: "dep_a",
      environmentId: "env_prod",
      source: { image: "shop:1" }
    })
    expect(duplicate.status).toBe(409)
    expect(duplicate.contentType).toContain("application/problem+json")
  })
})
