/**
 * The API's input limits (real nats-server + PostgreSQL): the same limits as the wire contract, a 400
 * problem naming the field for an over-limit field, a 413 problem for a body (or the command built
 * from it) over 256 KiB; nothing is published in either case, and a command at the limit is.
 */
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { limits } from "../../src/domain/limits.js"
import { ensureStreams } from "../../src/nats/Nats.js"
import { streams } from "../../src/nats/subjects.js"
import { Projector } from "../../src/projections/Projector.js"
import { publishSteps, t0 } from "../projections/scenario.js"
import { bearer } from "../support/auth.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"
import { type TestApi, startTestApi } from "../support/apiServer.js"

const project = "proj_limits"
let natsServer: TestNats
let nc: NatsConnection
let jsm: JetStreamManager
let api: TestApi
let base: string

beforeAll(async () => {
  natsServer = await startTestNats()
  nc = await connect({ servers: natsServer.url })
  jsm = await jetstreamManager(nc)
  await Effect.runPromise(ensureStreams(jsm))
  const seqs = await publishSteps(jetstream(nc), [{
    at: t0,
    commandId: "cmd_create",
    events: [{
      type: "ProjectCreated",
      projectId: project,
      workspace: "acme",
      slug: "limits",
      apexDomain: "berth.localhost",
      defaultBranch: "main",
      environments: [{ id: "env_prod", slug: "production", kind: "production" }]
    }]
  }], 0, project)
  ;({ api, base } = await startTestApi(natsServer.url, await freshDatabase("limits")))
  await api.runPromise(Effect.flatMap(Projector, (p) => p.waitFor(seqs[seqs.length - 1] ?? 0)))
})

afterAll(async () => {
  await api?.dispose()
  await nc?.close()
  await natsServer?.stop()
})

const post = async (path: string, body: string) => {
  const response = await fetch(`${base}${path}`, { method: "POST", headers: { ...bearer(), "content-type": "application/json" }, body })
  return { status: response.status, contentType: response.headers.get("content-type"), body: (await response.json()) as unknown }
}

const commandCount = async (): Promise<number> => (await jsm.streams.info(streams.commands)).state.messages

const deployBody = (extra: Record<string, unknown>) => ({ environmentId: "env_prod", source: { image: "ghcr.io/acme/shop:1" }, ...extra })

/** `json` with spaces before its closing brace, `bytes` long in all. */
const paddedTo = (json: string, bytes: number): string => `${json.slice(0, -1)}${" ".repeat(bytes - Buffer.byteLength(json))}}`

describe("field limits: 400 naming the field, nothing published", () => {
  it.each([
    { name: "an image of 513 characters", body: deployBody({ source: { image: "i".repeat(513) } }), detail: "source.image: at most 512 characters (got 513)" },
    { name: "65 arguments", body: deployBody({ source: { command: Array(65).fill("a") } }), detail: "source.command: at most 64 arguments (got 65)" },
    {
      name: "257 env entries",
      body: deployBody({ env: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`E${i}`, "v"])) }),
      detail: "env: at most 256 entries (got 257)"
    }
  ])("deploy with $name", async ({ body, detail }) => {
    const before = await commandCount()
    const response = await post(`/v1/projects/${project}/deployments`, JSON.stringify(body))
    expect(response.status).toBe(400)
    expect(response.contentType).toContain("application/problem+json")
    expect((response.body as { detail: string }).detail).toContain(detail)
    expect(await commandCount()).toBe(before)
  })

  it("create project with 17 environments", async () => {
    const environments = Array.from({ length: 17 }, (_, i) => ({ id: `env_${i}`, slug: `s${i}`, kind: "preview" }))
    const body = { projectId: "proj_many_envs", workspace: "acme", slug: "many", apexDomain: "berth.localhost", environments }
    const response = await post("/v1/projects", JSON.stringify(body))
    expect(response).toMatchObject({ status: 400, body: { detail: "environments: at most 16 environments (got 17)" } })
  })
})

describe("body size: 413 problem+json over 256 KiB", () => {
  it("a body of 256 KiB whose command fits is accepted and published", async () => {
    const before = await commandCount()
    const body = paddedTo(JSON.stringify(deployBody({ deploymentId: "dep_at_limit" })), limits.commandBytes)
    expect(Buffer.byteLength(body)).toBe(262_144)
    const response = await post(`/v1/projects/${project}/deployments`, body)
    expect(response.status).toBe(202)
    expect(await commandCount()).toBe(before + 1)
  })

  it("a body one byte over is refused before it is read, and nothing is published", async () => {
    const before = await commandCount()
    const body = paddedTo(JSON.stringify(deployBody({})), limits.commandBytes + 1)
    const response = await post(`/v1/projects/${project}/deployments`, body)
    expect(response).toEqual({
      status: 413,
      contentType: "application/problem+json",
      body: {
        type: "about:blank",
        title: "Content Too Large",
        status: 413,
        detail: "request body: a command is at most 256 KiB (262144 bytes) of JSON (got 262145 bytes)"
      }
    })
    expect(await commandCount()).toBe(before)
  })

  it("a body under 256 KiB whose command (with type, projectId and generated ids) would be over it is a 413 too", async () => {
    const before = await commandCount()
    // Every byte counts in the command: no whitespace, the body itself 40 bytes under the limit.
    const bare = JSON.stringify(deployBody({ git: { sha: "abcdef0", message: "" } }))
    const message = "m".repeat(limits.commandBytes - 40 - Buffer.byteLength(bare))
    const body = JSON.stringify(deployBody({ git: { sha: "abcdef0", message } }))
    expect(Buffer.byteLength(body)).toBe(limits.commandBytes - 40)
    const response = await post(`/v1/projects/${project}/deployments`, body)
    expect(response.status).toBe(413)
    expect((response.body as { detail: string }).detail).toMatch(/^Deploy command: a command is at most 256 KiB \(262144 bytes\) of JSON \(got 262\d{3} bytes\)$/)
    expect(await commandCount()).toBe(before)
  })
})
