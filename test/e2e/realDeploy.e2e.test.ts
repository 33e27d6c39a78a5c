/**
 * No fakes: Berth runs as a process with its own krane-local and gateway; the example app
 * (examples/hello) is deployed through raw NATS commands, reached through the gateway by each of its
 * hostnames, rolled back and promoted while a client keeps sending requests (none may fail, and the
 * answers switch version), and a deployment that never becomes healthy is cancelled.
 */
import { get as httpGet } from "node:http"
import { fileURLToPath } from "node:url"
import { Effect, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeConnectKrane } from "../../src/adapters/krane/ConnectKrane.js"
import { startBerth, type BerthProcess } from "../support/berthProcess.js"
import { connectClient, type Client } from "../support/orchestrator.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
let client: Client
let berth: BerthProcess

const projectId = "proj_real"
const hosts = {
  live: "hello-acme.berth.localhost",
  environment: "hello-production-acme.berth.localhost",
  branch: "hello-git-main-acme.berth.localhost",
  commit1: "hello-git-1111111-acme.berth.localhost",
  deployment1: "hello-dep-v1-acme.berth.localhost"
}

beforeAll(async () => {
  nats = await startTestNats()
  client = await connectClient(nats.url)
  const databaseUrl = await freshDatabase("e2e_real")
  // Debug headers on: each answer says which deployment served it (X-Berth-Deployment).
  berth = await startBerth({ NATS_URL: nats.url, DATABASE_URL: databaseUrl, BERTH_GATEWAY_DEBUG_HEADERS: "1" })
  await client.publish(projectId, {
    type: "CreateProject",
    commandId: "cmd_create_real",
    projectId,
    workspace: "acme",
    slug: "hello",
    apexDomain: "berth.localhost",
    environments: [{ id: "env_real_prod", slug: "production", kind: "production" }]
  })
})
afterAll(async () => {
  await berth?.kill()
  await client?.close()
  await nats?.stop()
})

/** Absolute: instances run in their own directory under Berth's data dir. */
const helloServer = fileURLToPath(new URL("../../examples/hello/server.js", import.meta.url))

const deploy = (deploymentId: string, version: string, sha: string, command = ["node", helloServer]) =>
  client.publish(projectId, {
    type: "Deploy",
    commandId: `cmd_${deploymentId}`,
    projectId,
    deploymentId,
    environmentId: "env_real_prod",
    source: { command },
    git: { sha, branch: "main" },
    replicas: 2,
    env: { APP_VERSION: version }
  })

/** A GET through the gateway with the given Host header (fetch does not let a caller set Host). */
const through = (host: string, path = "/") =>
  new Promise<{ status: number; deployment: string | undefined; body: string }>((resolve, reject) => {
    const request = httpGet(`${berth.gateway}${path}`, { headers: { host } }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => {
        const deployment = response.headers["x-berth-deployment"]
        resolve({ status: response.statusCode ?? 0, deployment: typeof deployment === "string" ? deployment : undefined, body })
      })
    })
    request.on("error", reject)
  })

const versionAt = async (host: string) => {
  const answer = await through(host)
  return answer.status === 200 ? (JSON.parse(answer.body) as { version: string }).version : `HTTP ${answer.status}`
}

const waitFor = async (condition: () => Promise<boolean>, what: string, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe("real deployments through the gateway", () => {
  it("serves each hostname of a deployment through the gateway, with its OpenAPI document captured", async () => {
    await deploy("dep_v1", "v1", "1111111")
    await client.waitForEvent(projectId, (event) => event.type === "LiveSwitched" && event.to === "dep_v1", 30_000)
    await waitFor(async () => (await versionAt(hosts.live)) === "v1", "the live hostname to answer")
    for (const host of Object.values(hosts)) {
      const answer = await through(host)
      expect(answer, host).toMatchObject({ status: 200, deployment: "dep_v1" })
      expect(JSON.parse(answer.body)).toEqual({ hello: "world", version: "v1" })
    }
    const unknown = await through("nobody-acme.berth.localhost")
    expect(unknown.status).toBe(404)
    const deployment = (await (await fetch(`${berth.api}/v1/deployments/dep_v1`, { headers: berth.headers })).json()) as { openApiCaptured: boolean }
    expect(deployment.openApiCaptured).toBe(true)
  })

  it("rolls back and promotes under load without a failed request", async () => {
    await deploy("dep_v2", "v2", "2222222")
    await client.waitForEvent(projectId, (event) => event.type === "LiveSwitched" && event.to === "dep_v2", 30_000)
    await waitFor(async () => (await versionAt(hosts.live)) === "v2", "v2 to be live")

    const seen: Array<string> = []
    let running = true
    const load = (async () => {
      while (running) seen.push(await versionAt(hosts.live).catch((error: unknown) => `error ${String(error)}`))
    })()
    try {
      await client.publish(projectId, { type: "Rollback", commandId: "cmd_rb", projectId, sourceDeploymentId: "dep_v2", targetDeploymentId: "dep_v1" })
      await waitFor(async () => seen.at(-1) === "v1", "traffic to switch back to v1", 5_000)
      await client.publish(projectId, { type: "Promote", commandId: "cmd_pr", projectId, deploymentId: "dep_v2" })
      await waitFor(async () => seen.at(-1) === "v2", "traffic to switch to v2 again", 5_000)
      // The switches can be quicker than a handful of requests: keep the traffic going a little after
      // them, so the test always judges a stream of requests around both switches.
      const after = seen.length + 10
      await waitFor(async () => seen.length >= after, "ten more requests after the promote", 10_000)
    } finally {
      running = false
      await load
    }
    const failures = seen.filter((answer) => answer !== "v1" && answer !== "v2")
    expect(failures).toEqual([])
    expect(seen.length).toBeGreaterThan(10)
    const firstV1 = seen.indexOf("v1")
    expect(firstV1).toBeGreaterThan(-1)
    expect(seen.slice(firstV1).includes("v2")).toBe(true)
  })

  it("cancels a deployment whose instances never become healthy, and stops its processes", async () => {
    await deploy("dep_never", "v3", "3333333", ["node", "-e", "setInterval(() => {}, 1000)"])
    await client.waitForEvent(projectId, (event) => event.type === "InstancesObserved" && event.deploymentId === "dep_never", 30_000)
    await client.publish(projectId, { type: "CancelDeployment", commandId: "cmd_cancel_never", projectId, deploymentId: "dep_never" })
    const events = await client.waitForEvent(
      projectId,
      (event) => event.type === "DeploymentCompensated" && event.deploymentId === "dep_never",
      30_000
    )
    expect(events.find((event) => event.type === "DeploymentCompensated" && event.deploymentId === "dep_never")).toMatchObject({
      kraneDeleted: true
    })
    expect(await versionAt(hosts.live)).toBe("v2")
    // krane-local no longer knows the deployment: its processes were stopped.
    const gone = await Effect.runPromise(Effect.either(makeConnectKrane(berth.krane, { token: Redacted.make(berth.kraneToken()) }).getDeployment("acme", "dep_never")))
    expect(gone._tag === "Left" && gone.left._tag).toBe("KraneDeploymentNotFound")
  })
})
