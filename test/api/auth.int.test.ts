/**
 * API authentication and authorization against a real nats-server (tokens in KV berth_tokens) and
 * PostgreSQL (the read model the workspace checks read), tried as an attacker would: no token, a
 * forged, expired or revoked one, a token of another workspace, a read-only token that tries to
 * deploy, a browser page's text/plain POST, a foreign Origin and a DNS-rebinding Host. Every refusal
 * is a problem document and publishes nothing.
 */
import { request as httpRequest } from "node:http"
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeTokenStore } from "../../src/auth/TokenStore.js"
import { ensureStreams } from "../../src/nats/Nats.js"
import { buckets, streams } from "../../src/nats/subjects.js"
import { Projector } from "../../src/projections/Projector.js"
import { publishSteps, type Step, t0 } from "../projections/scenario.js"
import { bearer, testSecurity } from "../support/auth.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"
import { type TestApi, startTestApi } from "../support/apiServer.js"

let natsServer: TestNats
let nc: NatsConnection
let jsm: JetStreamManager
let api: TestApi
let base: string
let port: number
const allowedOrigin = "https://console.example.com"

/** A project of `workspace` with one deployment in progress. */
const projectSteps = (projectId: string, workspace: string, deploymentId: string): ReadonlyArray<Step> => [
  {
    at: t0,
    commandId: `cmd_${projectId}`,
    events: [{
      type: "ProjectCreated",
      projectId,
      workspace,
      slug: projectId.replace("proj_", ""),
      apexDomain: "berth.localhost",
      defaultBranch: "main",
      environments: [{ id: "env_prod", slug: "production", kind: "production" }]
    }]
  },
  {
    at: t0 + 1000,
    commandId: `cmd_${deploymentId}`,
    events: [
      {
        type: "DeploymentRequested",
        deploymentId,
        environmentId: "env_prod",
        source: { command: ["node", "server.js"] },
        replicas: 1,
        port: 8080,
        cpuMillicores: 512,
        memorySizeMib: 512,
        env: {}
      },
      { type: "DeploymentBuilding", deploymentId }
    ]
  }
]

beforeAll(async () => {
  natsServer = await startTestNats()
  nc = await connect({ servers: natsServer.url })
  jsm = await jetstreamManager(nc)
  await Effect.runPromise(ensureStreams(jsm))
  const js = jetstream(nc)
  const seqs = [
    ...await publishSteps(js, projectSteps("proj_acme", "acme", "dep_acme_1"), 0, "proj_acme"),
    ...await publishSteps(js, projectSteps("proj_globex", "globex", "dep_globex_1"), 0, "proj_globex")
  ]
  ;({ api, base } = await startTestApi(natsServer.url, await freshDatabase("auth"), testSecurity({ allowedOrigins: [allowedOrigin] })))
  port = Number(new URL(base).port)
  await api.runPromise(Effect.flatMap(Projector, (p) => p.waitFor(seqs[seqs.length - 1] ?? 0)))
})

afterAll(async () => {
  await api?.dispose()
  await nc?.close()
  await natsServer?.stop()
})

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: unknown
}

const call = async (method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(options.token === undefined ? {} : bearer(options.token)),
      ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      ...options.headers
    },
    ...(options.body === undefined ? {} : { body: typeof options.body === "string" ? options.body : JSON.stringify(options.body) })
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) as unknown }
}

const admin = bearer().authorization.slice("Bearer ".length)

const createToken = async (body: Record<string, unknown>, token = admin): Promise<{ tokenId: string; token: string }> => {
  const answer = await call("POST", "/v1/tokens", { token, body })
  expect(answer.status, JSON.stringify(answer.body)).toBe(201)
  return answer.body as { tokenId: string; token: string }
}

const commandCount = async (): Promise<number> => (await jsm.streams.info(streams.commands)).state.messages

const problem = (status: number, detail: unknown = expect.any(String)) => expect.objectContaining({ status, detail })

const deployBody = { environmentId: "env_prod", source: { command: ["node", "server.js"] } }

describe("without a valid token", () => {
  it("answers 401 problem+json on every endpoint but health and the OpenAPI document", async () => {
    for (const [method, path] of [
      ["GET", "/v1/projects"],
      ["GET", "/v1/projects/proj_acme"],
      ["GET", "/v1/projects/proj_acme/events"],
      ["GET", "/v1/deployments/dep_acme_1"],
      ["POST", "/v1/projects/proj_acme/deployments"],
      ["GET", "/v1/tokens"]
    ] as const) {
      const answer = await call(method, path, method === "POST" ? { body: deployBody } : {})
      expect(answer.status, `${method} ${path}`).toBe(401)
      expect(answer.headers.get("content-type")).toBe("application/problem+json")
      expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="berth"')
      expect(answer.body).toEqual(problem(401, "an API token is required: send Authorization: Bearer <token>"))
    }
    for (const path of ["/healthz", "/readyz", "/openapi.json"]) expect((await call("GET", path)).status).toBe(200)
    expect((await fetch(`${base}/docs`)).status).toBe(200)
  })

  it("refuses forged tokens, and publishes nothing", async () => {
    const before = await commandCount()
    const { token } = await createToken({ workspace: "acme", role: "deploy" })
    for (const forged of [
      "nope",
      `${admin}x`,
      `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`,
      "berth_tok_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    ]) {
      const answer = await call("POST", "/v1/projects/proj_acme/deployments", { token: forged, body: deployBody })
      expect(answer.status).toBe(401)
      expect(answer.body).toEqual(problem(401, "the API token is invalid, expired or revoked"))
    }
    const basic = await fetch(`${base}/v1/projects/proj_acme`, { headers: { authorization: `Basic ${Buffer.from(`x:${admin}`).toString("base64")}` } })
    expect(basic.status).toBe(401)
    expect(await commandCount()).toBe(before)
  })

  it("refuses an expired token", async () => {
    const kv = await new Kvm(nc).open(buckets.tokens)
    const { token } = await Effect.runPromise(makeTokenStore(kv).create({ workspace: "acme", role: "read", createdBy: "test", expiresInMs: 1 }))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect((await call("GET", "/v1/projects/proj_acme", { token })).status).toBe(401)
    const live = await createToken({ workspace: "acme", role: "read", expiresIn: "1h" })
    expect((await call("GET", "/v1/projects/proj_acme", { token: live.token })).status).toBe(200)
  })
})

describe("request screening", () => {
  it("answers a text/plain POST (a browser's simple request) with 415 before anything else, publishing nothing", async () => {
    const before = await commandCount()
    for (const token of [undefined, admin]) {
      const answer = await call("POST", "/v1/projects/proj_acme/deployments", {
        ...(token === undefined ? {} : { token }),
        headers: { "content-type": "text/plain" },
        body: JSON.stringify(deployBody)
      })
      expect(answer.status).toBe(415)
      expect(answer.headers.get("content-type")).toBe("application/problem+json")
      expect(answer.body).toEqual(problem(415, 'request bodies must be application/json, got "text/plain"'))
    }
    expect(await commandCount()).toBe(before)
  })

  it("refuses a foreign Origin with 403 and serves an allowed one with CORS headers", async () => {
    const before = await commandCount()
    const foreign = await call("POST", "/v1/projects/proj_acme/deployments", { token: admin, body: deployBody, headers: { origin: "https://evil.example" } })
    expect(foreign.status).toBe(403)
    expect(foreign.body).toEqual(problem(403, 'origin "https://evil.example" is not allowed (BERTH_ALLOWED_ORIGINS)'))
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull()
    expect(await commandCount()).toBe(before)
    const allowed = await call("GET", "/v1/projects/proj_acme", { token: admin, headers: { origin: allowedOrigin } })
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get("access-control-allow-origin")).toBe(allowedOrigin)
    const preflight = await fetch(`${base}/v1/projects`, { method: "OPTIONS", headers: { origin: allowedOrigin, "access-control-request-method": "POST" } })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization")
  })

  it("answers a Host it does not serve (DNS rebinding) with 421", async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, path: "/v1/projects/proj_acme", headers: { host: `rebind.evil.example:${port}`, authorization: `Bearer ${admin}` } },
        (response) => {
          let body = ""
          response.on("data", (chunk: Buffer) => (body += chunk.toString()))
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
        }
      )
      req.on("error", reject)
      req.end()
    })
    expect(answer.status).toBe(421)
    expect(JSON.parse(answer.body)).toEqual(problem(421, expect.stringContaining('"rebind.evil.example"')))
  })
})

describe("workspaces", () => {
  it("keeps an acme token out of globex's project, deployments and events, publishing nothing", async () => {
    const { token } = await createToken({ workspace: "acme", role: "deploy" })
    expect((await call("GET", "/v1/projects/proj_acme", { token })).status).toBe(200)
    expect((await call("GET", "/v1/deployments/dep_acme_1", { token })).status).toBe(200)
    const before = await commandCount()
    for (const [method, path, body] of [
      ["GET", "/v1/projects/proj_globex", undefined],
      ["GET", "/v1/projects/proj_globex/deployments", undefined],
      ["GET", "/v1/projects/proj_globex/events", undefined],
      ["GET", "/v1/projects/proj_globex/deployments/dep_globex_1", undefined],
      ["POST", "/v1/projects/proj_globex/deployments/dep_globex_1/cancel", {}],
      ["POST", "/v1/projects/proj_globex/deployments", deployBody],
      ["POST", "/v1/projects/proj_globex/rollback", { targetDeploymentId: "dep_globex_1" }],
      ["POST", "/v1/projects/proj_globex/promote", { deploymentId: "dep_globex_1" }],
      ["POST", "/v1/projects", {
        projectId: "proj_takeover", workspace: "globex", slug: "takeover", apexDomain: "berth.localhost",
        environments: [{ id: "env_prod", slug: "production", kind: "production" }]
      }]
    ] as const) {
      const answer = await call(method, path, { token, ...(body === undefined ? {} : { body }) })
      expect(answer.status, `${method} ${path}`).toBe(403)
      expect(answer.body).toEqual(problem(403, expect.stringContaining("scoped to workspace acme")))
    }
    // The unscoped deployment routes look the id up within the token's workspace: globex's is unknown there.
    for (const [method, path] of [["GET", "/v1/deployments/dep_globex_1"], ["POST", "/v1/deployments/dep_globex_1/cancel"]] as const) {
      const answer = await call(method, path, { token, ...(method === "POST" ? { body: {} } : {}) })
      expect(answer.status, `${method} ${path}`).toBe(404)
      expect(answer.body).toEqual(problem(404, "deployment not found: dep_globex_1"))
    }
    expect(await commandCount()).toBe(before)
    expect((await call("POST", "/v1/projects/proj_acme/deployments", { token, body: deployBody })).status).toBe(202)
    expect(await commandCount()).toBe(before + 1)
  })

  it("lists only the token's workspace's projects (an all-workspace token sees every one)", async () => {
    const { token } = await createToken({ workspace: "acme", role: "read" })
    const scoped = await call("GET", "/v1/projects", { token })
    expect(scoped.status).toBe(200)
    expect((scoped.body as { projects: Array<{ projectId: string }> }).projects.map((p) => p.projectId)).toEqual(["proj_acme"])
    const everything = await call("GET", "/v1/projects", { token: admin })
    expect((everything.body as { projects: Array<{ projectId: string }> }).projects.map((p) => p.projectId)).toEqual(["proj_acme", "proj_globex"])
    const none = await createToken({ workspace: "initech", role: "read" })
    expect((await call("GET", "/v1/projects", { token: none.token })).body).toEqual({ projects: [] })
  })
})

describe("roles", () => {
  it("lets a read token read but not deploy, roll back, promote, cancel or create", async () => {
    const { token } = await createToken({ workspace: "acme", role: "read" })
    expect((await call("GET", "/v1/projects/proj_acme/deployments", { token })).status).toBe(200)
    expect((await call("GET", "/v1/projects/proj_acme/events", { token })).status).toBe(200)
    const before = await commandCount()
    for (const [path, body] of [
      ["/v1/projects/proj_acme/deployments", deployBody],
      ["/v1/projects/proj_acme/rollback", { targetDeploymentId: "dep_acme_1" }],
      ["/v1/projects/proj_acme/promote", { deploymentId: "dep_acme_1" }],
      ["/v1/deployments/dep_acme_1/cancel", {}],
      ["/v1/tokens", { workspace: "acme", role: "admin" }]
    ] as const) {
      const answer = await call("POST", path, { token, body })
      expect(answer.status, path).toBe(403)
      expect(answer.body).toEqual(problem(403, expect.stringContaining("has role read")))
    }
    expect(await commandCount()).toBe(before)
  })

  it("lets only admins manage tokens, a workspace admin only its workspace's", async () => {
    const deployer = await createToken({ workspace: "acme", role: "deploy" })
    expect((await call("GET", "/v1/tokens", { token: deployer.token })).status).toBe(403)
    const acmeAdmin = await createToken({ workspace: "acme", role: "admin" })
    expect((await call("POST", "/v1/tokens", { token: acmeAdmin.token, body: { workspace: "globex", role: "read" } })).status).toBe(403)
    expect((await call("POST", "/v1/tokens", { token: acmeAdmin.token, body: { workspace: null, role: "read" } })).status).toBe(403)
    const made = await createToken({ workspace: "acme", role: "read" }, acmeAdmin.token)
    expect(made.token).toMatch(/^berth_tok_/)
    const listed = await call("GET", "/v1/tokens", { token: acmeAdmin.token })
    expect((listed.body as { tokens: Array<{ workspace: string }> }).tokens.every((t) => t.workspace === "acme")).toBe(true)
    const globex = await createToken({ workspace: "globex", role: "read" })
    expect((await call("DELETE", `/v1/tokens/${globex.tokenId}`, { token: acmeAdmin.token })).status).toBe(404)
    expect((await call("GET", "/v1/projects/proj_globex", { token: globex.token })).status).toBe(200)
  })
})

describe("token lifecycle", () => {
  it("creates a token shown once, lists it without secrets, and revokes it at once", async () => {
    const created = await call("POST", "/v1/tokens", { token: admin, body: { workspace: "acme", role: "deploy", expiresIn: "30d", description: "ci" } })
    expect(created.status).toBe(201)
    const token = created.body as { tokenId: string; token: string; workspace: string; role: string; expiresAt: string; createdBy: string }
    expect(token).toMatchObject({ workspace: "acme", role: "deploy", createdBy: "admin", description: "ci" })
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000)
    expect((await call("GET", "/v1/projects/proj_acme", { token: token.token })).status).toBe(200)

    // Only the hash is stored; lists carry neither the token nor its hash.
    const kv = await new Kvm(nc).open(buckets.tokens)
    const stored = (await kv.get(token.tokenId))?.string() ?? ""
    expect(stored).toContain(token.tokenId)
    expect(stored).not.toContain(token.token.slice(-43))
    const list = await call("GET", "/v1/tokens", { token: admin })
    const text = JSON.stringify(list.body)
    expect(text).toContain(token.tokenId)
    expect(text).not.toContain(token.token)
    expect(text).not.toContain("hash")

    const revoked = await call("DELETE", `/v1/tokens/${token.tokenId}`, { token: admin })
    expect(revoked.status).toBe(204)
    const after = await call("GET", "/v1/projects/proj_acme", { token: token.token })
    expect(after.status).toBe(401)
    expect(JSON.stringify((await call("GET", "/v1/tokens", { token: admin })).body)).not.toContain(token.tokenId)
    expect((await call("DELETE", `/v1/tokens/${token.tokenId}`, { token: admin })).body).toEqual(problem(404, `token not found: ${token.tokenId}`))
  })

  it("refuses a malformed token request with 400", async () => {
    expect((await call("POST", "/v1/tokens", { token: admin, body: { workspace: "acme", role: "root" } })).status).toBe(400)
    const badExpiry = await call("POST", "/v1/tokens", { token: admin, body: { workspace: "acme", role: "read", expiresIn: "forever" } })
    expect(badExpiry.status).toBe(400)
    expect(badExpiry.body).toEqual(problem(400, expect.stringContaining("30d")))
  })
})

// Last: it stops the file's nats-server.
describe("a NATS outage", () => {
  it("keeps a recently verified token working for reads from PostgreSQL, and answers others 503", async () => {
    const { token } = await createToken({ workspace: "acme", role: "read" })
    const { token: unused } = await createToken({ workspace: "acme", role: "read" })
    expect((await call("GET", "/v1/projects/proj_acme/deployments", { token })).status).toBe(200)
    await nc.close()
    await natsServer.stop()
    const known = await call("GET", "/v1/projects/proj_acme/deployments", { token })
    expect(known.status).toBe(200)
    expect((await call("GET", "/v1/projects/proj_globex/deployments", { token })).status).toBe(403)
    const unknown = await call("GET", "/v1/projects/proj_acme/deployments", { token: unused })
    expect(unknown.status).toBe(503)
    expect(unknown.headers.get("retry-after")).toBe("5")
    expect(unknown.body).toEqual(problem(503, "tokens cannot be checked right now (NATS does not answer); try again shortly"))
  })
})
