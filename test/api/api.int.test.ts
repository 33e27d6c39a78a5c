/**
 * The status API over a projected read model (real nats-server + PostgreSQL): each endpoint's JSON,
 * RFC 9457 problem+json for unknown ids and routes, and the OpenAPI document.
 */
import { HttpServer } from "@effect/platform"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ApiServer } from "../../src/api/server.js"
import { ensureStreams, Nats } from "../../src/eventstore/Nats.js"
import { Database } from "../../src/projections/Database.js"
import { Projector } from "../../src/projections/Projector.js"
import { history, projectId, publishSteps, putSpec, t0 } from "../projections/scenario.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"

let natsServer: TestNats
let nc: NatsConnection
let api: ManagedRuntime.ManagedRuntime<HttpServer.HttpServer | Projector | Database | Nats, unknown>
let base: string

beforeAll(async () => {
  natsServer = await startTestNats()
  nc = await connect({ servers: natsServer.url })
  const js = jetstream(nc)
  await Effect.runPromise(ensureStreams(await jetstreamManager(nc)))
  await putSpec(js)
  const seqs = await publishSteps(js, history)
  const dbUrl = await freshDatabase("api")
  const deps = Layer.merge(Nats.layer(natsServer.url), Database.layer(dbUrl))
  api = ManagedRuntime.make(
    Layer.mergeAll(ApiServer.layer({ port: 0 }), Projector.layer()).pipe(Layer.provideMerge(deps))
  )
  await api.runPromise(Effect.flatMap(Projector, (p) => p.waitFor(seqs[seqs.length - 1] ?? 0)))
  const address = await api.runPromise(Effect.map(HttpServer.HttpServer, (s) => s.address))
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  base = `http://127.0.0.1:${address.port}`
})

afterAll(async () => {
  await api?.dispose()
  await nc?.close()
  await natsServer?.stop()
})

const get = async (path: string) => {
  const response = await fetch(`${base}${path}`)
  return { status: response.status, contentType: response.headers.get("content-type"), body: await response.json() as unknown }
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
      expect.objectContaining({ step: "await-instances", error: expect.stringContaining("never became ready") })
    ])
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
      "/v1/deployments/{deploymentId}",
      "/v1/projects/{projectId}",
      "/v1/projects/{projectId}/deployments"
    ])
    expect(Object.keys(doc.paths["/v1/projects/{projectId}"]?.["get"]?.responses ?? {})).toEqual(expect.arrayContaining(["200", "404"]))
  })
})
