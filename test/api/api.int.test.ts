/**
 * The status API over a projected read model (real nats-server + PostgreSQL): each endpoint's JSON,
 * the command endpoints (202 and the command as it lands in BERTH_COMMANDS, or a 400/404/409
 * problem and nothing published), the audit trail's pages, RFC 9457 problem+json for unknown ids
 * and routes, and the OpenAPI document.
 */
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Command } from "../../src/domain/commands.js"
import { ensureStreams } from "../../src/nats/Nats.js"
import { buckets, streams, subjects } from "../../src/nats/subjects.js"
import { Projector } from "../../src/projections/Projector.js"
import { eventCount, history, projectId, publishSteps, putSpec, t0 } from "../projections/scenario.js"
import { bearer } from "../support/auth.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"
import { type TestApi, startTestApi } from "../support/apiServer.js"
import { openWithTestKey, sealedWithTestKey } from "../support/secrets.js"

let natsServer: TestNats
let nc: NatsConnection
let jsm: JetStreamManager
let historySeqs: Array<number>
let api: TestApi
let base: string
const otherProject = "proj_other"
/** Two projects that both have a deployment dep_twin (ids are unique only within a project). */
const twins = ["proj_twin_a", "proj_twin_b"] as const

beforeAll(async () => {
  natsServer = await startTestNats()
  nc = await connect({ servers: natsServer.url })
  const js = jetstream(nc)
  jsm = await jetstreamManager(nc)
  await Effect.runPromise(ensureStreams(jsm))
  await putSpec(js)
  historySeqs = await publishSteps(js, history)
  // A second project: no live deployment, one deployment in progress.
  const other = await publishSteps(js, [
    {
      at: t0,
      commandId: "cmd_other",
      events: [{
        type: "ProjectCreated",
        projectId: otherProject,
        workspace: "acme",
        slug: "other",
        apexDomain: "berth.localhost",
        defaultBranch: "main",
        environments: [{ id: "env_main", slug: "production", kind: "production" }]
      }]
    },
    {
      at: t0 + 1000,
      commandId: "cmd_wip",
      events: [
        {
          type: "DeploymentRequested",
          deploymentId: "dep_wip",
          environmentId: "env_main",
          source: { command: ["node", "server.js"] },
          replicas: 1,
          port: 8080,
          cpuMillicores: 512,
          memorySizeMib: 512,
          env: {}
        },
        { type: "DeploymentBuilding", deploymentId: "dep_wip" }
      ]
    }
  ], 0, otherProject)
  // A command for a project that does not exist: its rejection is all the log knows of proj_ghost.
  const ghost = await publishSteps(js, [{
    at: t0,
    commandId: "cmd_ghost",
    events: [{ type: "CommandRejected", commandId: "cmd_ghost", commandType: "Deploy", code: "project_not_found", message: "project not found: proj_ghost" }]
  }], 0, "proj_ghost")
  const twinSeqs: Array<number> = []
  for (const twin of twins) {
    twinSeqs.push(...await publishSteps(js, [
      {
        at: t0,
        commandId: `cmd_${twin}`,
        events: [{
          type: "ProjectCreated",
          projectId: twin,
          workspace: twin === "proj_twin_a" ? "acme" : "globex",
          slug: "twin",
          apexDomain: "berth.localhost",
          defaultBranch: "main",
          environments: [{ id: "env_main", slug: "production", kind: "production" }]
        }]
      },
      {
        at: t0 + 1000,
        commandId: `cmd_${twin}_dep`,
        events: [
          {
            type: "DeploymentRequested",
            deploymentId: "dep_twin",
            environmentId: "env_main",
            source: { image: `registry.local/${twin}:1` },
            replicas: 1,
            port: 8080,
            cpuMillicores: 512,
            memorySizeMib: 512,
            env: {}
          },
          { type: "DeploymentBuilding", deploymentId: "dep_twin" }
        ]
      }
    ], 0, twin))
  }
  const seqs = [...historySeqs, ...other, ...ghost, ...twinSeqs]
  const dbUrl = await freshDatabase("api")
  ;({ api, base } = await startTestApi(natsServer.url, dbUrl))
  await api.runPromise(Effect.flatMap(Projector, (p) => p.waitFor(seqs[seqs.length - 1] ?? 0)))
})

afterAll(async () => {
  await api?.dispose()
  await nc?.close()
  await natsServer?.stop()
})

const get = async (path: string) => {
  const response = await fetch(`${base}${path}`, { headers: bearer() })
  return { status: response.status, contentType: response.headers.get("content-type"), body: await response.json() as unknown }
}

/** POSTs `body` (a value is sent as JSON, a string as is, undefined as no body). */
const post = async (path: string, body?: unknown) => {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    ...(body === undefined
      ? { headers: bearer() }
      : { headers: { ...bearer(), "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) })
  })
  return { status: response.status, contentType: response.headers.get("content-type"), body: await response.json() as unknown }
}

/** The last command published for a project, as stored in BERTH_COMMANDS. */
const lastCommand = async (project: string): Promise<unknown> => {
  const message = await jsm.streams.getMessage(streams.commands, { last_by_subj: subjects.command(project) })
  return message?.json()
}

const commandCount = async (): Promise<number> => (await jsm.streams.info(streams.commands)).state.messages

const problem = (status: number, detail: unknown) => ({
  type: "about:blank",
  title: ({ 400: "Bad Request", 404: "Not Found", 409: "Conflict" } as Record<number, string>)[status],
  status,
  detail
})

/** Expects a problem+json answer and that nothing was published. */
const expectProblem = async (request: Promise<Awaited<ReturnType<typeof post>>>, status: number, detail: unknown) => {
  const before = await commandCount()
  const response = await request
  expect(response.body).toEqual(problem(status, detail))
  expect(response.status).toBe(status)
  expect(response.contentType).toBe("application/problem+json")
  expect(await commandCount()).toBe(before)
}

describe("status API", () => {
  it("GET /v1/projects/:projectId", async () => {
    const { status, body } = await get(`/v1/projects/${projectId}`)
    expect(status).toBe(200)
    expect(body).toEqual({
      projectId,
      workspace: "acme",
      slug: "shop",
      apexDomain: "berth.localhost",
      defaultBranch: "main",
      openApiPath: "/openapi.yaml",
      environments: [
        { environmentId: "env_prod", slug: "production", kind: "production" },
        { environmentId: "env_prev", slug: "preview", kind: "preview" }
      ],
      liveDeploymentId: "dep_live",
      rolledBack: false,
      liveHistory: [{ version: historySeqs[6], at: new Date(t0 + 6000).toISOString(), fromDeploymentId: null, toDeploymentId: "dep_live", reason: "deploy" }],
      version: expect.any(Number),
      createdAt: new Date(t0).toISOString(),
      updatedAt: expect.any(String)
    })
  })

  it("GET /v1/projects/:projectId/deployments pages newest first", async () => {
    const first = await get(`/v1/projects/${projectId}/deployments?limit=2`)
    expect(first.status).toBe(200)
    const page1 = first.body as { deployments: Array<{ deploymentId: string; isLive: boolean; status: string }>; nextCursor: string | null }
    expect(page1.deployments.map((d) => [d.deploymentId, d.status, d.isLive])).toEqual([
      ["dep_prev", "ready", false],
      ["dep_fail", "failed", false]
    ])
    expect(page1.nextCursor).toEqual(expect.any(String))
    const second = await get(`/v1/projects/${projectId}/deployments?limit=2&cursor=${page1.nextCursor}`)
    expect(second.body).toMatchObject({
      deployments: [{ deploymentId: "dep_live", isLive: true, git: { sha: "abc1234", branch: "main", message: "deploy dep_live" } }],
      nextCursor: null
    })
  })

  it("GET /v1/projects/:projectId shows a quarantine the orchestrator recorded, and drops it once lifted", async () => {
    const kv = await new Kvm(nc).create(buckets.quarantine)
    const since = t0 + 60_000
    await kv.put(projectId, JSON.stringify({ reason: "the envelope at stream sequence 7 cannot be decoded", since, seq: 7 }))
    const { body } = await get(`/v1/projects/${projectId}`)
    expect(body).toMatchObject({ projectId, unavailable: { reason: "the envelope at stream sequence 7 cannot be decoded", since: new Date(since).toISOString(), seq: 7 } })
    await kv.delete(projectId)
    expect(await get(`/v1/projects/${projectId}`)).not.toHaveProperty("body.unavailable")
  })

  it("GET /healthz and /readyz: the API is live, and ready while NATS and PostgreSQL answer", async () => {
    expect(await get("/healthz")).toMatchObject({ status: 200, body: { status: "ok", pid: process.pid } })
    const ready = await get("/readyz")
    expect(ready.status).toBe(200)
    // No role process reports in this test (only the API runs): the system is degraded, the API ready.
    expect(ready.body).toMatchObject({
      status: "degraded",
      checks: { nats: { ok: true }, postgres: { ok: true }, replication: { ok: true, detail: "1 replica per stream (detected; single server)" } },
      missing: ["orchestrator", "projector", "api", "gateway"]
    })
  })

  it("GET /v1/deployments/:deploymentId", async () => {
    const { status, body } = await get("/v1/deployments/dep_live")
    expect(status).toBe(200)
    expect(body).toMatchObject({
      deploymentId: "dep_live",
      projectId,
      environmentId: "env_prod",
      status: "ready",
      isLive: true,
      source: { image: "registry.local/shop:dep_live" },
      replicas: 2,
      failure: null,
      readyAt: new Date(t0 + 6000).toISOString(),
      failedAt: null,
      instances: [
        { instanceId: "dep_live-i0", status: "RUNNING" },
        { instanceId: "dep_live-i1", status: "RUNNING" }
      ],
      domains: [{ hostname: "shop-acme.berth.localhost", sticky: "live" }, { hostname: "shop-git-abc1234-acme.berth.localhost" }],
      openApiCaptured: true,
      openApi: { path: "/openapi.yaml", stored: true }
    })
    const steps = (body as { steps: Array<{ step: string; endedAt: string | null; error: string | null }> }).steps
    expect(steps.map((s) => s.step)).toEqual(["build", "krane-create", "await-instances", "scrape-openapi", "assign-domains", "go-live"])
    expect(steps.every((s) => s.endedAt !== null && s.error === null)).toBe(true)

    const failed = await get("/v1/deployments/dep_fail")
    expect(failed.body).toMatchObject({
      status: "failed",
      isLive: false,
      failure: { step: "await-instances", reason: expect.stringContaining("0 of 1") },
      openApiCaptured: false,
      openApi: null
    })
    expect((failed.body as { steps: Array<unknown> }).steps).toEqual([
      expect.objectContaining({ step: "build" }),
      expect.objectContaining({ step: "krane-create" }),
      expect.objectContaining({ step: "await-instances", error: expect.stringContaining("never became ready") }),
      // Compensation starts when a deployment fails (and ends when Berth reports DeploymentCompensated).
      { step: "compensate", startedAt: new Date(t0 + 9000).toISOString(), endedAt: null, error: null }
    ])
    expect(failed.body).toMatchObject({ cancelledAt: null, compensatedAt: null })
  })

  it("answers unknown ids and routes with RFC 9457 problem+json", async () => {
    for (const [path, detail] of [
      ["/v1/projects/proj_x", "project not found: proj_x"],
      ["/v1/projects/proj_x/deployments", "project not found: proj_x"],
      ["/v1/deployments/dep_x", "deployment not found: dep_x"]
    ] as const) {
      const response = await get(path)
      expect(response.status).toBe(404)
      expect(response.contentType).toBe("application/problem+json")
      expect(response.body).toEqual({ type: "about:blank", title: "Not Found", status: 404, detail })
    }
    const unknown = await get("/nope")
    expect(unknown.status).toBe(404)
    expect(unknown.contentType).toBe("application/problem+json")
    expect(unknown.body).toMatchObject({ title: "Not Found", status: 404 })

    const badCursor = await get(`/v1/projects/${projectId}/deployments?cursor=zzz`)
    expect(badCursor.status).toBe(400)
    expect(badCursor.contentType).toBe("application/problem+json")
    expect(badCursor.body).toEqual({ type: "about:blank", title: "Bad Request", status: 400, detail: "invalid cursor: zzz" })

    // The framework's own request-decoding failure is rewritten into a problem document too.
    const badLimit = await get(`/v1/projects/${projectId}/deployments?limit=abc`)
    expect(badLimit.status).toBe(400)
    expect(badLimit.contentType).toBe("application/problem+json")
    expect(badLimit.body).toMatchObject({ title: "Bad Request", status: 400, detail: expect.stringContaining("limit") })
  })

  it("serves the OpenAPI document", async () => {
    const { status, body } = await get("/openapi.json")
    expect(status).toBe(200)
    const doc = body as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }
    expect(doc.openapi).toMatch(/^3\./)
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/healthz",
      "/readyz",
      "/v1/deployments/{deploymentId}",
      "/v1/deployments/{deploymentId}/cancel",
      "/v1/projects",
      "/v1/projects/{projectId}",
      "/v1/projects/{projectId}/deployments",
      "/v1/projects/{projectId}/deployments/{deploymentId}",
      "/v1/projects/{projectId}/deployments/{deploymentId}/cancel",
      "/v1/projects/{projectId}/events",
      "/v1/projects/{projectId}/promote",
      "/v1/projects/{projectId}/rollback",
      "/v1/tokens",
      "/v1/tokens/{tokenId}"
    ])
    expect(Object.keys(doc.paths["/v1/projects/{projectId}"]?.["get"]?.responses ?? {})).toEqual(expect.arrayContaining(["200", "404", "503"]))
    const deploy = doc.paths["/v1/projects/{projectId}/deployments"]?.["post"] as unknown as {
      responses: Record<string, unknown>
      description: string
      requestBody: { required: boolean }
    }
    expect(Object.keys(deploy.responses).sort()).toEqual(["202", "400", "401", "403", "404", "409", "503"])
    expect(deploy.description).toContain("CommandRejected")
    expect(deploy.requestBody.required).toBe(true)
    const create = doc.paths["/v1/projects"]?.["post"] as unknown as { responses: Record<string, unknown>; requestBody: { required: boolean } }
    expect(Object.keys(create.responses).sort()).toEqual(["202", "400", "401", "403", "409", "503"])
    expect(create.requestBody.required).toBe(true)
    const cancel = doc.paths["/v1/deployments/{deploymentId}/cancel"]?.["post"] as unknown as { requestBody: { required: boolean } }
    expect(cancel.requestBody.required).toBe(false)
    // Every endpoint but health names the bearer scheme; health needs none.
    const secured = doc as unknown as {
      components: { securitySchemes: Record<string, { type: string; scheme: string }> }
      paths: Record<string, Record<string, { security?: ReadonlyArray<Record<string, unknown>> }>>
    }
    expect(Object.values(secured.components.securitySchemes)).toEqual([expect.objectContaining({ type: "http", scheme: "bearer" })])
    expect(secured.paths["/v1/projects/{projectId}"]?.["get"]?.security).toHaveLength(1)
    expect(secured.paths["/healthz"]?.["get"]?.security ?? []).toHaveLength(0)
  })
})

describe("POST /v1/projects", () => {
  const newProject = {
    projectId: "proj_new",
    workspace: "acme",
    slug: "new",
    apexDomain: "berth.localhost",
    environments: [
      { id: "env_new_prod", slug: "production", kind: "production" },
      { id: "env_new_preview", slug: "preview", kind: "preview" }
    ]
  }

  it("publishes a CreateProject with the given fields and answers 202", async () => {
    const body = { ...newProject, commandId: "cmd_new_1", defaultBranch: "trunk", openApiPath: "/spec.json" }
    const before = await commandCount()
    const { status, body: answer } = await post("/v1/projects", body)
    expect(status).toBe(202)
    expect(answer).toEqual({
      commandId: "cmd_new_1",
      projectId: "proj_new",
      status: "accepted",
      links: { project: "/v1/projects/proj_new", events: "/v1/projects/proj_new/events" }
    })
    expect(await commandCount()).toBe(before + 1)
    expect(await lastCommand("proj_new")).toEqual({ type: "CreateProject", ...body })
  })

  it("generates the command id when absent; the command is one the intake accepts", async () => {
    const { status, body } = await post("/v1/projects", { ...newProject, projectId: "proj_new2" })
    expect(status).toBe(202)
    const { commandId } = body as { commandId: string }
    expect(commandId).toMatch(/^cmd_[0-9a-f]{16}$/)
    const command = await lastCommand("proj_new2")
    expect(command).toEqual({ type: "CreateProject", commandId, ...newProject, projectId: "proj_new2" })
    expect(Schema.decodeUnknownSync(Command)(command)).toMatchObject({ type: "CreateProject", projectId: "proj_new2" })
  })

  it("answers 409 for a project that exists and 400 for malformed bodies, publishing nothing", async () => {
    await expectProblem(post("/v1/projects", { ...newProject, projectId }), 409, `project already exists: ${projectId}`)
    await expectProblem(post("/v1/projects", { ...newProject, projectId: "proj.x" }), 400,
      "projectId: must be 1-128 characters of A-Z a-z 0-9 _ -")
    await expectProblem(post("/v1/projects", { ...newProject, slug: "Not A Slug" }), 400,
      "slug: must be a lowercase DNS label: a-z 0-9 and inner hyphens, at most 63 characters")
    await expectProblem(post("/v1/projects", { ...newProject, environments: [] }), 400, expect.stringMatching(/^environments: /))
    // Only the apex domains of BERTH_APEX_DOMAINS (vitest.config.ts) may be used.
    await expectProblem(post("/v1/projects", { ...newProject, apexDomain: "bank.example" }), 400,
      "apex domain bank.example is not allowed: this Berth serves berth.localhost, localhost, berth.test, example.com")
    const [prod, preview] = newProject.environments
    await expectProblem(post("/v1/projects", { ...newProject, environments: [prod, { ...preview, id: prod?.id }] }), 400,
      "duplicate environment id: env_new_prod")
    await expectProblem(post("/v1/projects", { ...newProject, environments: [prod, { ...preview, slug: "production" }] }), 400,
      "duplicate environment slug: production")
    await expectProblem(post("/v1/projects", { ...newProject, environments: [prod, { ...preview, kind: "production" }] }), 400,
      "a project has at most one production environment")
    await expectProblem(post("/v1/projects", { workspace: "acme" }), 400, expect.stringContaining("projectId: is missing"))
    await expectProblem(post("/v1/projects", "{"), 400, expect.stringMatching(/^request body is not JSON: /))
    await expectProblem(post("/v1/projects"), 400, "a JSON request body is required")
  })
})

describe("POST /v1/projects/:projectId/deployments", () => {
  it("publishes a Deploy with the given ids and answers 202", async () => {
    const body = {
      deploymentId: "dep_api_1",
      commandId: "cmd_api_1",
      environmentId: "env_prod",
      source: { image: "registry.local/shop:2" },
      git: { sha: "abcdef1", branch: "feature/x", message: "add x" },
      replicas: 2,
      port: 3000,
      env: { MODE: "prod" }
    }
    const before = await commandCount()
    const { status, body: answer } = await post(`/v1/projects/${projectId}/deployments`, body)
    expect(status).toBe(202)
    expect(answer).toEqual({
      commandId: "cmd_api_1",
      projectId,
      deploymentId: "dep_api_1",
      status: "accepted",
      links: { deployment: `/v1/projects/${projectId}/deployments/dep_api_1`, events: `/v1/projects/${projectId}/events` }
    })
    expect(await commandCount()).toBe(before + 1)
    // Published with its env sealed: BERTH_COMMANDS never holds the cleartext.
    const published = await lastCommand(projectId) as { env: { MODE: string } }
    expect(published).toEqual({ type: "Deploy", projectId, ...body, env: { MODE: expect.stringMatching(sealedWithTestKey) } })
    expect(await openWithTestKey(projectId, published.env.MODE)).toBe("prod")
  })

  it("generates token-safe ids when absent; the command is one the intake accepts", async () => {
    const { status, body } = await post(`/v1/projects/${projectId}/deployments`, {
      environmentId: "env_prev",
      source: { command: ["node", "server.js"] }
    })
    expect(status).toBe(202)
    const { commandId, deploymentId } = body as { commandId: string; deploymentId: string }
    expect(deploymentId).toMatch(/^dep_[0-9a-f]{16}$/)
    expect(commandId).toMatch(/^cmd_[0-9a-f]{16}$/)
    const command = await lastCommand(projectId)
    expect(command).toEqual({ type: "Deploy", commandId, projectId, deploymentId, environmentId: "env_prev", source: { command: ["node", "server.js"] } })
    expect(Schema.decodeUnknownSync(Command)(command)).toMatchObject({ type: "Deploy", deploymentId })
  })

  it("answers malformed requests and read-model contradictions with problems, publishing nothing", async () => {
    const path = `/v1/projects/${projectId}/deployments`
    const valid = { environmentId: "env_prod", source: { image: "x" } }
    await expectProblem(post(`/v1/projects/proj_x/deployments`, valid), 404, "project not found: proj_x")
    await expectProblem(post(path, { ...valid, environmentId: "env_x" }), 404, "environment 'env_x' not found in workspace 'acme'")
    await expectProblem(post(path, { ...valid, deploymentId: "dep_live" }), 409, "deployment already exists: dep_live")
    await expectProblem(post(path, { environmentId: "env_prod" }), 400, "source: source must be specified (either image or command)")
    await expectProblem(post(path, { ...valid, replicas: 0, port: 70000 }), 400,
      "replicas: replicas must be between 1 and 64; port: Port must be between 1 and 65535")
    await expectProblem(post(path, { ...valid, deploymentId: "dep.bad" }), 400,
      "deploymentId: must be 1-128 characters of A-Z a-z 0-9 _ -")
    await expectProblem(post(path, { ...valid, git: { sha: "xyz" } }), 400, "git.sha: must be 7-40 hex digits")
    await expectProblem(post(path, "{not json"), 400, expect.stringMatching(/^request body is not JSON: /))
    await expectProblem(post(path, "[1]"), 400, "request body must be a JSON object")
    await expectProblem(post(path), 400, "a JSON request body is required")
    // An id that is not a subject token never reaches NATS.
    await expectProblem(post("/v1/projects/proj.x/deployments", valid), 400, expect.stringContaining("must be 1-128 characters"))
  })
})

describe("tenant isolation: a deployment id used by two projects", () => {
  it("a Deploy may reuse another project's deployment id: ids are unique only within a project", async () => {
    const { status, body } = await post(`/v1/projects/${projectId}/deployments`, {
      deploymentId: "dep_wip",
      environmentId: "env_prod",
      source: { image: "x" }
    })
    expect(status).toBe(202)
    expect(body).toMatchObject({ projectId, deploymentId: "dep_wip", links: { deployment: `/v1/projects/${projectId}/deployments/dep_wip` } })
    expect(await lastCommand(projectId)).toMatchObject({ type: "Deploy", projectId, deploymentId: "dep_wip" })
  })

  it("GET /v1/projects/:projectId/deployments/:deploymentId serves each project its own deployment", async () => {
    for (const twin of twins) {
      const { status, body } = await get(`/v1/projects/${twin}/deployments/dep_twin`)
      expect(status).toBe(200)
      expect(body).toMatchObject({ projectId: twin, deploymentId: "dep_twin", source: { image: `registry.local/${twin}:1` } })
    }
    const live = await get(`/v1/projects/${projectId}/deployments/dep_live`)
    expect(live.body).toMatchObject({ projectId, deploymentId: "dep_live", status: "ready", isLive: true })
    // Another project's deployment is as unknown as a missing one.
    await expectProblem(Promise.resolve(await get(`/v1/projects/${projectId}/deployments/dep_twin`)), 404, "deployment not found: dep_twin")
  })

  it("the unscoped routes answer 409 for an ambiguous id and publish nothing", async () => {
    const detail = "deployment id dep_twin is used by several projects (proj_twin_a, proj_twin_b): name the project, /v1/projects/{projectId}/deployments/dep_twin"
    await expectProblem(Promise.resolve(await get("/v1/deployments/dep_twin")), 409, detail)
    await expectProblem(post("/v1/deployments/dep_twin/cancel"), 409, detail)
  })

  it("a workspace's token sees only its own workspace's use of the id: no ambiguity, nothing about the other tenant", async () => {
    const created = await post("/v1/tokens", { workspace: "globex", role: "read" })
    expect(created.status).toBe(201)
    const { token } = created.body as { token: string }
    const response = await fetch(`${base}/v1/deployments/dep_twin`, { headers: bearer(token) })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ projectId: "proj_twin_b", deploymentId: "dep_twin" })
    // acme's dep_live is unknown to a globex token (404, as if it did not exist).
    const other = await fetch(`${base}/v1/deployments/dep_live`, { headers: bearer(token) })
    expect(other.status).toBe(404)
  })

  it("POST /v1/projects/:projectId/deployments/:deploymentId/cancel cancels only that project's deployment", async () => {
    const { status, body } = await post("/v1/projects/proj_twin_b/deployments/dep_twin/cancel", { commandId: "cmd_cancel_twin" })
    expect(status).toBe(202)
    expect(body).toEqual({
      commandId: "cmd_cancel_twin",
      projectId: "proj_twin_b",
      deploymentId: "dep_twin",
      status: "accepted",
      links: { deployment: "/v1/projects/proj_twin_b/deployments/dep_twin", events: "/v1/projects/proj_twin_b/events" }
    })
    expect(await lastCommand("proj_twin_b")).toEqual({
      type: "CancelDeployment",
      commandId: "cmd_cancel_twin",
      projectId: "proj_twin_b",
      deploymentId: "dep_twin"
    })
    expect(await lastCommand("proj_twin_a")).toBeUndefined()
    await expectProblem(post(`/v1/projects/${projectId}/deployments/dep_twin/cancel`), 404, "deployment not found: dep_twin")
    await expectProblem(post(`/v1/projects/${projectId}/deployments/dep_live/cancel`), 409,
      "deployment dep_live is already ready: only a deployment in progress can be cancelled")
  })
})

describe("POST /v1/projects/:projectId/rollback", () => {
  it("publishes a Rollback from the live deployment by default and answers 202", async () => {
    const { status, body } = await post(`/v1/projects/${projectId}/rollback`, { targetDeploymentId: "dep_prev", commandId: "cmd_rb_1" })
    expect(status).toBe(202)
    expect(body).toEqual({
      commandId: "cmd_rb_1",
      projectId,
      sourceDeploymentId: "dep_live",
      targetDeploymentId: "dep_prev",
      status: "accepted",
      links: { deployment: `/v1/projects/${projectId}/deployments/dep_prev`, events: `/v1/projects/${projectId}/events` }
    })
    expect(await lastCommand(projectId)).toEqual({
      type: "Rollback",
      commandId: "cmd_rb_1",
      projectId,
      sourceDeploymentId: "dep_live",
      targetDeploymentId: "dep_prev"
    })

    const explicit = await post(`/v1/projects/${projectId}/rollback`, { targetDeploymentId: "dep_fail", sourceDeploymentId: "dep_prev" })
    expect(explicit.status).toBe(202)
    expect(await lastCommand(projectId)).toMatchObject({ type: "Rollback", sourceDeploymentId: "dep_prev", targetDeploymentId: "dep_fail" })
  })

  it("answers problems for unknown projects and deployments, no live deployment, malformed bodies", async () => {
    const path = `/v1/projects/${projectId}/rollback`
    await expectProblem(post("/v1/projects/proj_x/rollback", { targetDeploymentId: "dep_prev" }), 404, "project not found: proj_x")
    await expectProblem(post(path, { targetDeploymentId: "dep_x" }), 404, "target deployment not found: dep_x")
    await expectProblem(post(path, { targetDeploymentId: "dep_wip" }), 404, "target deployment not found: dep_wip")
    await expectProblem(post(path, { targetDeploymentId: "dep_prev", sourceDeploymentId: "dep_y" }), 404, "source deployment not found: dep_y")
    await expectProblem(post(path, { targetDeploymentId: "dep_live" }), 400, "source and target deployments must be different")
  })

  it("checks in Unkey's order: different ids first, then the source, then the target", async () => {
    const path = `/v1/projects/${projectId}/rollback`
    // Neither exists, but they are the same id: "different" comes before any lookup.
    await expectProblem(post(path, { targetDeploymentId: "dep_x", sourceDeploymentId: "dep_x" }), 400, "source and target deployments must be different")
    // Both unknown: the source is named, not the target.
    await expectProblem(post(path, { targetDeploymentId: "dep_x", sourceDeploymentId: "dep_y" }), 404, "source deployment not found: dep_y")
    // A known source with an unknown target names the target.
    await expectProblem(post(path, { targetDeploymentId: "dep_x", sourceDeploymentId: "dep_prev" }), 404, "target deployment not found: dep_x")
    await expectProblem(post(`/v1/projects/${otherProject}/rollback`, { targetDeploymentId: "dep_wip" }), 400, "project has no live deployment")
    await expectProblem(post(path, {}), 400, "targetDeploymentId: is missing")
  })
})

describe("POST /v1/projects/:projectId/promote", () => {
  it("publishes a Promote and answers 202", async () => {
    const { status, body } = await post(`/v1/projects/${projectId}/promote`, { deploymentId: "dep_prev" })
    expect(status).toBe(202)
    const { commandId } = body as { commandId: string }
    expect(body).toEqual({
      commandId: expect.stringMatching(/^cmd_/),
      projectId,
      deploymentId: "dep_prev",
      status: "accepted",
      links: { deployment: `/v1/projects/${projectId}/deployments/dep_prev`, events: `/v1/projects/${projectId}/events` }
    })
    expect(await lastCommand(projectId)).toEqual({ type: "Promote", commandId, projectId, deploymentId: "dep_prev" })
  })

  it("answers problems for unknown projects and deployments and malformed bodies", async () => {
    await expectProblem(post("/v1/projects/proj_x/promote", { deploymentId: "dep_prev" }), 404, "project not found: proj_x")
    await expectProblem(post(`/v1/projects/${projectId}/promote`, { deploymentId: "dep_wip" }), 404, "deployment not found: dep_wip")
    await expectProblem(post(`/v1/projects/${projectId}/promote`, { deploymentId: 7 }), 400, "deploymentId: Expected string, actual 7")
  })
})

describe("POST /v1/deployments/:deploymentId/cancel", () => {
  it("publishes a CancelDeployment to the deployment's project (body optional) and answers 202", async () => {
    const { status, body } = await post("/v1/deployments/dep_wip/cancel")
    expect(status).toBe(202)
    const { commandId } = body as { commandId: string }
    expect(body).toEqual({
      commandId: expect.stringMatching(/^cmd_/),
      projectId: otherProject,
      deploymentId: "dep_wip",
      status: "accepted",
      links: { deployment: `/v1/projects/${otherProject}/deployments/dep_wip`, events: `/v1/projects/${otherProject}/events` }
    })
    expect(await lastCommand(otherProject)).toEqual({ type: "CancelDeployment", commandId, projectId: otherProject, deploymentId: "dep_wip" })

    const withId = await post("/v1/deployments/dep_wip/cancel", { commandId: "cmd_cancel_1" })
    expect(withId.status).toBe(202)
    expect(await lastCommand(otherProject)).toMatchObject({ type: "CancelDeployment", commandId: "cmd_cancel_1" })
  })

  it("answers 409 for a finished deployment, 404 for an unknown one, 400 for a malformed body", async () => {
    await expectProblem(post("/v1/deployments/dep_live/cancel"), 409,
      "deployment dep_live is already ready: only a deployment in progress can be cancelled")
    await expectProblem(post("/v1/deployments/dep_fail/cancel", {}), 409,
      "deployment dep_fail is already failed: only a deployment in progress can be cancelled")
    await expectProblem(post("/v1/deployments/dep_x/cancel"), 404, "deployment not found: dep_x")
    await expectProblem(post("/v1/deployments/dep_wip/cancel", "nope"), 400, expect.stringMatching(/^request body is not JSON/))
    await expectProblem(post("/v1/deployments/dep_wip/cancel", { commandId: "" }), 400, "commandId: must be 1-128 characters of A-Z a-z 0-9 _ -")
  })
})

describe("GET /v1/projects/:projectId/events", () => {
  type Page = {
    events: Array<{ streamSeq: number; index: number; type: string; commandId: string | null; at: string; payload: { type: string } }>
    nextCursor: number | null
  }

  const walk = async (limit: number): Promise<Array<Page>> => {
    const pages: Array<Page> = []
    let after: number | null = 0
    while (after !== null) {
      const { status, body } = await get(`/v1/projects/${projectId}/events?limit=${limit}&after=${after}`)
      expect(status).toBe(200)
      const page = body as Page
      pages.push(page)
      after = page.nextCursor
    }
    return pages
  }

  it("lists every event oldest first", async () => {
    const { status, body } = await get(`/v1/projects/${projectId}/events`)
    expect(status).toBe(200)
    const page = body as Page
    expect(page.nextCursor).toBeNull()
    expect(page.events).toHaveLength(eventCount)
    expect(page.events[0]).toEqual({
      streamSeq: historySeqs[0],
      index: 0,
      type: "ProjectCreated",
      commandId: "cmd_create",
      // Published straight to the log by the test: no sender recorded.
      actor: null,
      at: new Date(t0).toISOString(),
      payload: expect.objectContaining({ type: "ProjectCreated", projectId, slug: "shop" })
    })
    expect(page.events.map((e) => e.type)).toEqual(history.flatMap((step) => step.events.map((e) => e.type)))
    expect(page.events.map((e) => e.streamSeq)).toEqual(history.flatMap((step, i) => step.events.map(() => historySeqs[i])))
    expect(page.events.every((e) => e.payload.type === e.type)).toBe(true)
    expect(page.events[page.events.length - 1]).toMatchObject({ type: "CommandRejected", commandId: "cmd_bad" })
  })

  it("pages by stream sequence without splitting an envelope", async () => {
    const { body } = await get(`/v1/projects/${projectId}/events`)
    const all = (body as Page).events
    for (const limit of [1, 2, 3]) {
      const pages = await walk(limit)
      expect(pages.flatMap((p) => p.events)).toEqual(all)
      for (const [i, page] of pages.entries()) {
        expect(page.events.length).toBeGreaterThan(0)
        // An envelope larger than the limit comes whole; otherwise a page holds at most `limit` events.
        const envelopes = new Set(page.events.map((e) => e.streamSeq))
        if (envelopes.size > 1) expect(page.events.length).toBeLessThanOrEqual(limit)
        const next = pages[i + 1]
        if (next !== undefined) {
          expect(page.nextCursor).toBe(page.events[page.events.length - 1]?.streamSeq)
          expect(next.events[0]?.streamSeq).toBeGreaterThan(page.nextCursor ?? Infinity)
        }
      }
    }
    // The envelope with DomainsAssigned, DeploymentReady and LiveSwitched (3 events) comes whole at limit 2.
    const first = await get(`/v1/projects/${projectId}/events?limit=2&after=${historySeqs[5]}`)
    expect((first.body as Page).events.map((e) => e.type)).toEqual(["DomainsAssigned", "DeploymentReady", "LiveSwitched"])
    expect((first.body as Page).nextCursor).toBe(historySeqs[6])
    const last = await get(`/v1/projects/${projectId}/events?after=${historySeqs[historySeqs.length - 1]}`)
    expect(last.body).toEqual({ events: [], nextCursor: null })
  })

  it("shows the rejections of a project that was never created", async () => {
    const { status, body } = await get("/v1/projects/proj_ghost/events")
    expect(status).toBe(200)
    expect(body).toMatchObject({ events: [{ type: "CommandRejected", commandId: "cmd_ghost", payload: { code: "project_not_found" } }], nextCursor: null })
    expect((await get("/v1/projects/proj_ghost")).status).toBe(404)
  })

  it("answers problems for unknown projects and bad parameters", async () => {
    await expectProblem(get("/v1/projects/proj_x/events"), 404, "project not found: proj_x")
    for (const query of ["limit=0", "limit=501", "limit=abc", "after=-1", "after=1.5"]) {
      const response = await get(`/v1/projects/${projectId}/events?${query}`)
      expect(response.status).toBe(400)
      expect(response.contentType).toBe("application/problem+json")
      expect(response.body).toMatchObject({ title: "Bad Request", status: 400, detail: expect.any(String) })
    }
  })
})
