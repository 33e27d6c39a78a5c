/**
 * Roles on separate machines, as two `berth up --roles …` would run them against shared servers: one
 * Berth runs only the orchestrator, another the projector, API and gateway. A deployment goes live
 * through both; /readyz on the API sees every role, wherever it runs, and sees one go missing. Both are
 * given the same BERTH_ACTOR_KEY, as the README says machines must be, so the audit trail names the
 * token that sent each command, and the same BERTH_SECRETS_KEY, so env values the API seals open on
 * the orchestrator's machine.
 */
import { randomBytes } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { startFakeKraneHttpServer, type FakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"
import { startBerth, type BerthProcess } from "../support/berthProcess.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
const fakeKrane = makeFakeKrane()
let krane: FakeKraneHttpServer
let orchestrator: BerthProcess
let front: BerthProcess

beforeAll(async () => {
  nats = await startTestNats()
  krane = await startFakeKraneHttpServer({ krane: fakeKrane })
  // Each is given only what its roles need: were it to need more, it would start its own (and say so).
  const BERTH_ACTOR_KEY = "split-roles-shared-actor-key"
  const BERTH_SECRETS_KEY = `s1:${randomBytes(32).toString("base64")}`
  ;[orchestrator, front] = await Promise.all([
    startBerth({ NATS_URL: nats.url, KRANE_URL: krane.url, BERTH_ROLES: "orchestrator", BERTH_ACTOR_KEY, BERTH_SECRETS_KEY }),
    startBerth({ NATS_URL: nats.url, DATABASE_URL: await freshDatabase("split"), BERTH_ROLES: "projector,api,gateway", BERTH_ACTOR_KEY, BERTH_SECRETS_KEY })
  ])
}, 180_000)
afterAll(async () => {
  await orchestrator?.kill()
  await front?.kill()
  await krane?.close()
  await nats?.stop()
})

interface Readiness {
  readonly status: string
  readonly roles: ReadonlyArray<{ readonly role: string; readonly ready: boolean; readonly pid: number }>
  readonly missing: ReadonlyArray<string>
}

const readiness = async (): Promise<Readiness> => (await (await fetch(`${front.api}/readyz`)).json()) as Readiness

const eventually = async <A>(probe: () => Promise<A>, done: (value: A) => boolean, what: string, timeoutMs = 60_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last = await probe()
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)?.slice(0, 1500)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    last = await probe()
  }
  return last
}

describe("roles in separate Berth processes", () => {
  it("each starts only its roles, and only what they need", () => {
    expect(orchestrator.output()).toMatch(/roles +orchestrator \(pid \d+\)\n/)
    expect(orchestrator.output()).not.toContain("status API")
    expect(orchestrator.output()).not.toContain("PostgreSQL")
    expect(front.output()).toMatch(/roles +projector \(pid \d+\), api \(pid \d+\), gateway \(pid \d+\)\n/)
    expect(front.output()).not.toContain("krane-local")
  })

  it("deploys through both, and /readyz reports every role wherever it runs", async () => {
    const ready = await eventually(readiness, (r) => r.status === "ready", "every role to report ready")
    // One report per role process: a role the supervisor restarted under load keeps its previous
    // process's report until that expires, so compare the set of roles.
    expect([...new Set(ready.roles.map((r) => r.role))].sort()).toEqual(["api", "gateway", "orchestrator", "projector"])
    expect(ready.roles.find((r) => r.role === "orchestrator")?.pid).toBe(orchestrator.rolePid("orchestrator"))

    const post = (path: string, body: unknown) =>
      fetch(`${front.api}${path}`, { method: "POST", headers: { ...front.headers, "content-type": "application/json" }, body: JSON.stringify(body) })
    expect((await post("/v1/projects", {
      projectId: "proj_split", workspace: "acme", slug: "split", apexDomain: "berth.test",
      environments: [{ id: "env_prod", slug: "production", kind: "production" }]
    })).status).toBe(202)
    await eventually(async () => (await fetch(`${front.api}/v1/projects/proj_split`, { headers: front.headers })).status, (s) => s === 200, "the project in the read model")
    expect((await post("/v1/projects/proj_split/deployments", {
      deploymentId: "dep_split_1", environmentId: "env_prod", source: { command: ["node", "server.js"] }, env: { DB_PASSWORD: "split-secret" }
    })).status).toBe(202)
    await eventually(
      async () => (await (await fetch(`${front.api}/v1/deployments/dep_split_1`, { headers: front.headers })).json()) as { status?: string },
      (d) => d.status === "ready",
      "dep_split_1 ready"
    )
    const page = (await (await fetch(`${front.api}/v1/projects/proj_split/events`, { headers: front.headers })).json()) as {
      events: ReadonlyArray<{ type: string; actor: string | null }>
    }
    expect(page.events.filter((e) => e.type === "ProjectCreated" || e.type === "DeploymentRequested").map((e) => e.actor)).toEqual(["admin", "admin"])
    // Sealed by the API on one machine, opened for Krane on the other.
    expect(fakeKrane.createCalls.find((spec) => spec.deploymentId.endsWith("dep_split_1"))?.env).toEqual({ DB_PASSWORD: "split-secret" })
  })

  it("shows the orchestrator missing once its machine is gone, while the API keeps serving", async () => {
    await orchestrator.kill("SIGKILL")
    const degraded = await eventually(readiness, (r) => r.missing.includes("orchestrator"), "the orchestrator to drop out", 30_000)
    expect(degraded.status).toBe("degraded")
    expect((await fetch(`${front.api}/v1/deployments/dep_split_1`, { headers: front.headers })).status).toBe(200)
  })
})
