/**
 * The audit trail says who sent each command (real nats-server, PostgreSQL, orchestrator with the
 * FakeKrane, API and projector): a command sent through the API is recorded with the sending token's
 * id, in the envelope on BERTH_EVENTS, in the read model, in GET /events and in `berth events`; a raw
 * NATS publisher claiming a token's identity (a forged signature, or a genuine one copied onto other
 * bytes) is recorded as `nats`.
 */
import { execFile } from "node:child_process"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { headers } from "@nats-io/transport-node"
import { Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { actorHeader, actorSignatureHeader, signActor } from "../../src/auth/actor.js"
import { subjects } from "../../src/nats/subjects.js"
import { bearer, testActorKey, testAdminToken } from "../support/auth.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { type Client, connectClient, createProjectCommand, type RunningOrchestrator, startOrchestrator } from "../support/orchestrator.js"
import { type TestApi, startTestApi } from "../support/apiServer.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

let nats: TestNats
let client: Client
let orchestrator: RunningOrchestrator
let api: TestApi
let base: string

beforeAll(async () => {
  nats = await startTestNats()
  client = await connectClient(nats.url)
  orchestrator = await startOrchestrator(nats.url, makeFakeKrane().layer)
  ;({ api, base } = await startTestApi(nats.url, await freshDatabase("audit")))
})

afterAll(async () => {
  await orchestrator?.stop()
  await api?.dispose()
  await client?.close()
  await nats?.stop()
})

const post = async (path: string, body: unknown, token: string) => {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { ...bearer(token), "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const eventually = async <A>(probe: () => Promise<A>, done: (value: A) => boolean, what: string): Promise<A> => {
  const deadline = Date.now() + 20_000
  for (let last = await probe(); ; last = await probe()) {
    if (done(last)) return last
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The actor of the envelope that decided `commandId` on the project's log. */
const actorOf = async (projectId: string, commandId: string) =>
  (await eventually(() => client.envelopes(projectId), (all) => all.some((e) => e.commandId === commandId), `${commandId} decided`))
    .find((e) => e.commandId === commandId)?.actor

const createBody = (projectId: string) => ({
  projectId,
  workspace: "acme",
  slug: projectId.replace("proj_", "").replace(/_/g, "-"),
  apexDomain: "berth.test",
  environments: [{ id: "env_prod", slug: "production", kind: "production" }]
})

describe("the audit trail's actor", () => {
  it("is the token that sent the command through the API, everywhere the trail is read", async () => {
    const created = await post("/v1/projects", { ...createBody("proj_audit"), commandId: "cmd_audit_create" }, testAdminToken)
    expect(created.status).toBe(202)
    expect(await actorOf("proj_audit", "cmd_audit_create")).toBe("admin")

    const token = await post("/v1/tokens", { workspace: "acme", role: "deploy" }, testAdminToken)
    const { tokenId, token: secret } = token.body as { tokenId: string; token: string }
    await eventually(async () => (await fetch(`${base}/v1/projects/proj_audit`, { headers: bearer() })).status, (s) => s === 200, "the project projected")
    const deployed = await post("/v1/projects/proj_audit/deployments", {
      commandId: "cmd_audit_deploy",
      deploymentId: "dep_audit_1",
      environmentId: "env_prod",
      source: { command: ["node", "server.js"] }
    }, secret)
    expect(deployed.status).toBe(202)
    expect(await actorOf("proj_audit", "cmd_audit_deploy")).toBe(tokenId)

    const page = await eventually(
      async () => (await (await fetch(`${base}/v1/projects/proj_audit/events`, { headers: bearer() })).json()) as {
        events: Array<{ type: string; commandId: string | null; actor: string | null }>
      },
      (p) => p.events.some((e) => e.commandId === "cmd_audit_deploy"),
      "the deploy in the read model"
    )
    expect(page.events.find((e) => e.type === "ProjectCreated")?.actor).toBe("admin")
    expect(page.events.find((e) => e.type === "DeploymentRequested")?.actor).toBe(tokenId)
    // Step results are nobody's command.
    expect(page.events.filter((e) => e.commandId === null).every((e) => e.actor === null)).toBe(true)

    const cli = await new Promise<string>((resolve, reject) =>
      execFile(join(projectRoot, "node_modules/.bin/tsx"), ["src/cli/berth.ts", "events", "proj_audit"], {
        cwd: projectRoot,
        env: { ...process.env, BERTH_API_URL: base, BERTH_TOKEN: testAdminToken, TZ: "UTC" }
      }, (error, stdout) => (error === null ? resolve(stdout) : reject(error))))
    expect(cli).toMatch(/ProjectCreated .*\[cmd_audit_create by admin\]$/m)
    expect(cli).toContain(`[cmd_audit_deploy by ${tokenId}]`)
  })

  it("is nats for a raw publisher, whatever actor it claims", async () => {
    const genuine = (payload: string) => signActor(Redacted.make(testActorKey), "admin", payload)
    const cases = [
      { projectId: "proj_raw_plain", claim: undefined },
      { projectId: "proj_raw_forged", claim: { actor: "admin", signature: "AAAA" } },
      // A signature the API made for other bytes (say, seen in a log) does not carry over.
      { projectId: "proj_raw_copied", claim: { actor: "admin", signature: genuine(JSON.stringify(createProjectCommand("proj_other"))) } },
      { projectId: "proj_raw_wrongkey", claim: { actor: "admin", signature: signActor(Redacted.make("guessed"), "admin", JSON.stringify(createProjectCommand("proj_raw_wrongkey", "cmd_raw_proj_raw_wrongkey"))) } }
    ]
    for (const { projectId, claim } of cases) {
      const payload = JSON.stringify(createProjectCommand(projectId, `cmd_raw_${projectId}`))
      const h = headers()
      if (claim !== undefined) {
        h.set(actorHeader, claim.actor)
        h.set(actorSignatureHeader, claim.signature)
      }
      await client.js.publish(subjects.command(projectId), payload, { headers: h })
      expect(await actorOf(projectId, `cmd_raw_${projectId}`), projectId).toBe("nats")
    }
    // The control: the same key over the right bytes is what the API sends, and is believed.
    const payload = JSON.stringify(createProjectCommand("proj_raw_signed", "cmd_raw_signed"))
    const h = headers()
    h.set(actorHeader, "admin")
    h.set(actorSignatureHeader, genuine(payload))
    await client.js.publish(subjects.command("proj_raw_signed"), payload, { headers: h })
    expect(await actorOf("proj_raw_signed", "cmd_raw_signed")).toBe("admin")
  })
})
