/**
 * Roles fail alone, as an operator would see it: Berth runs as `npm start` runs it (a supervisor and one
 * process per role) on a real nats-server and PostgreSQL with an HTTP Krane; a storm of deployments is
 * published raw to NATS; then PostgreSQL is crashed, or the orchestrator process is killed with SIGKILL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { startFakeKraneHttpServer, type FakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"
import { startBerth, type BerthProcess } from "../support/berthProcess.js"
import { connectClient, createProjectCommand, deployCommand, type Client } from "../support/orchestrator.js"
import { startRestartablePostgres, type RestartablePostgres } from "../support/restartablePostgres.js"
import { startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
let pg: RestartablePostgres
let client: Client
let krane: FakeKraneHttpServer
let berth: BerthProcess

beforeAll(async () => {
  nats = await startTestNats()
  pg = await startRestartablePostgres()
  client = await connectClient(nats.url)
  krane = await startFakeKraneHttpServer({ krane: makeFakeKrane() })
  berth = await startBerth({ NATS_URL: nats.url, DATABASE_URL: pg.url, KRANE_URL: krane.url, BERTH_STEP_BACKOFF: "50 millis" })
}, 180_000)
afterAll(async () => {
  await berth?.kill()
  await client?.close()
  await krane?.close()
  await pg?.stop()
  await nats?.stop()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The last lines a role printed, for a failure message. */
const roleOutput = (role: string) =>
  berth.output().split("\n").filter((line) => line.startsWith(role) && !line.includes("level=DEBUG")).slice(-30).join("\n")

const eventually = async <A>(probe: () => Promise<A>, done: (value: A) => boolean, what: string, timeoutMs = 60_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last = await probe()
  while (!done(last)) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)?.slice(0, 2000)}\n${roleOutput("projector")}\n${roleOutput("orchestrator")}`)
    }
    await sleep(200)
    last = await probe()
  }
  return last
}

const get = async (url: string) => {
  const response = await fetch(url, { headers: berth.headers })
  const text = await response.text()
  return { status: response.status, contentType: response.headers.get("content-type"), retryAfter: response.headers.get("retry-after"), body: text === "" ? undefined : (JSON.parse(text) as unknown) }
}

const storm = async (prefix: string, count: number) => {
  const projects = Array.from({ length: count }, (_, i) => `${prefix}_${i}`)
  await Promise.all(projects.map(async (projectId) => {
    await client.publish(projectId, createProjectCommand(projectId))
    await client.publish(projectId, deployCommand(projectId, `dep_${projectId}`))
  }))
  return projects
}

/** Every project's deployment went live, per the log (the system of record). */
const allLive = async (projects: ReadonlyArray<string>) => {
  const pending: Array<string> = []
  for (const projectId of projects) {
    const events = await client.events(projectId)
    if (!events.some((e) => e.type === "LiveSwitched")) pending.push(projectId)
  }
  return pending
}

/** Step events that must appear at most once per deployment. */
const onceEach = ["KraneDeploymentCreated", "DeploymentReady", "DomainsAssigned", "LiveSwitched"] as const

const duplicatedSteps = async (projects: ReadonlyArray<string>) => {
  const duplicates: Array<string> = []
  for (const projectId of projects) {
    const events = await client.events(projectId)
    for (const type of onceEach) {
      if (events.filter((e) => e.type === type).length > 1) duplicates.push(`${projectId}: ${type}`)
    }
  }
  return duplicates
}

const readiness = async () => (await get(`${berth.api}/readyz`)).body as { status: string; roles: ReadonlyArray<{ role: string; ready: boolean }>; missing: ReadonlyArray<string> }

describe("roles fail alone", () => {
  it("reports every role ready on /readyz once started", async () => {
    const ready = await eventually(readiness, (r) => r.status === "ready", "every role to report ready", 30_000)
    // One report per role process: a role the supervisor restarted under load keeps its previous
    // process's report until that expires, so compare the set of roles.
    expect([...new Set(ready.roles.map((r) => r.role))].sort()).toEqual(["api", "gateway", "orchestrator", "projector"])
    expect(ready.missing).toEqual([])
  })

  it("keeps deciding while PostgreSQL is down: the API answers 503 with Retry-After, the read model converges after", async () => {
    const orchestratorPid = berth.rolePid("orchestrator")
    const projects = await storm("pgdown", 30)
    await pg.crash()
    try {
      await eventually(() => allLive(projects), (pending) => pending.length === 0, "every deployment to go live with PostgreSQL down")
      const answer = await eventually(() => get(`${berth.api}/v1/projects/${projects[0]}`), (a) => a.status === 503, "the API to answer 503")
      expect(answer.contentType).toContain("application/problem+json")
      expect(answer.retryAfter).toBe("5")
      expect(answer.body).toMatchObject({ status: 503, title: "Service Unavailable" })
      const ready = await get(`${berth.api}/readyz`)
      expect(ready.status).toBe(503)
      expect(ready.body).toMatchObject({ status: "unavailable", checks: { postgres: { ok: false } } })
      // The orchestrator needs no PostgreSQL: the same process decided everything.
      expect(berth.rolePid("orchestrator")).toBe(orchestratorPid)
      expect(berth.output()).not.toContain("Cannot read properties of null")
    } finally {
      await pg.restart()
    }
    for (const projectId of projects) {
      await eventually(
        () => get(`${berth.api}/v1/deployments/dep_${projectId}`),
        (a) => a.status === 200 && (a.body as { status?: string }).status === "ready",
        `dep_${projectId} ready in the read model after PostgreSQL returned`
      )
    }
    expect(await duplicatedSteps(projects)).toEqual([])
    await eventually(readiness, (r) => r.status === "ready", "readiness after PostgreSQL returned", 30_000)
  })

  it("finishes every deployment after the orchestrator process is killed with SIGKILL mid-storm", async () => {
    const projects = await storm("orchkill", 30)
    await eventually(() => client.events(projects[0] ?? ""), (events) => events.length > 0, "the storm to start", 30_000)
    const killed = berth.killRole("orchestrator", "SIGKILL")
    await eventually(async () => berth.rolePid("orchestrator"), (pid) => pid !== undefined && pid !== killed, "the supervisor to restart the orchestrator")
    await eventually(() => allLive(projects), (pending) => pending.length === 0, "every deployment to go live after the kill", 90_000)
    expect(await duplicatedSteps(projects)).toEqual([])
    expect(berth.output()).toMatch(/orchestrator was killed \(SIGKILL\); restarting/)
    // Krane was asked to create each deployment; a repeated create is answered "exists" and changes nothing.
    expect(new Set(krane.krane.deployments().map((d) => d.deploymentId)).size).toBeGreaterThanOrEqual(projects.length)
  })
})
