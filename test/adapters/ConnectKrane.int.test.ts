/**
 * ConnectKrane against a real HTTP server speaking the Connect JSON wire (FakeKraneHttpServer):
 * request shape, both response spellings, and the mapping of Connect outcomes onto port errors.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { ConnectKrane, makeConnectKrane } from "../../src/adapters/krane/ConnectKrane.js"
import {
  Krane,
  KraneDeploymentNotFound,
  KraneRejected,
  KraneUnavailable,
  type KraneDeploymentSpec
} from "../../src/adapters/krane/Krane.js"
import { connectError, fakeKraneHttpServer, startFakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"

const spec: KraneDeploymentSpec = {
  namespace: "proj-1",
  deploymentId: "dep-1",
  command: ["node", "server.js"],
  replicas: 2,
  cpuMillicores: 250,
  memorySizeMib: 256,
  port: 3000,
  env: { DATABASE_URL: "postgres://db/app" }
}

describe("ConnectKrane", () => {
  it.scoped("creates then gets a deployment (camelCase, enums by name)", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      server.krane.setInstanceAddress((s, i) => `127.0.0.1:${(s.port ?? 0) + i}`)
      const krane = makeConnectKrane(server.url)

      yield* krane.createDeployment(spec)
      const instances = yield* krane.getDeployment("proj-1", "dep-1")

      expect(instances).toEqual([
        { id: "dep-1-0", address: "127.0.0.1:3000", status: "RUNNING" },
        { id: "dep-1-1", address: "127.0.0.1:3001", status: "RUNNING" }
      ])
    })
  )

  it.scoped("reads snake_case responses with numeric enums", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer({ casing: "snake", enums: "number" })
      server.krane.setReadyAfterPolls(1)
      const krane = makeConnectKrane(server.url)

      yield* krane.createDeployment({ ...spec, replicas: 1 })
      const first = yield* krane.getDeployment("proj-1", "dep-1")
      const second = yield* krane.getDeployment("proj-1", "dep-1")

      expect(first.map((i) => i.status)).toEqual(["PENDING"])
      expect(second.map((i) => i.status)).toEqual(["RUNNING"])
    })
  )

  it.scoped("reads a response that omits empty instances as no instances", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      const krane = makeConnectKrane(server.url)
      yield* krane.createDeployment({ ...spec, replicas: 0 })
      expect(yield* krane.getDeployment("proj-1", "dep-1")).toEqual([])
    })
  )

  it.scoped("sends its token as a bearer token on every request, and none without one", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      const withToken = makeConnectKrane(server.url, { token: Redacted.make("s3cret-token") })
      yield* withToken.createDeployment(spec)
      yield* makeConnectKrane(server.url).getDeployment("proj-1", "dep-1")
      yield* withToken.deleteDeployment("proj-1", "dep-1")
      expect(server.requests.map((r) => [r.method, r.authorization])).toEqual([
        ["CreateDeployment", "Bearer s3cret-token"],
        ["GetDeployment", undefined],
        ["DeleteDeployment", "Bearer s3cret-token"]
      ])
    })
  )

  it.scoped("sends the documented request shapes as JSON", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      const krane = makeConnectKrane(`${server.url}/`)

      yield* krane.createDeployment(spec)
      yield* krane.getDeployment("proj-1", "dep-1")
      yield* krane.deleteDeployment("proj-1", "dep-1")

      expect(server.requests).toEqual([
        {
          method: "CreateDeployment",
          contentType: "application/json",
          body: {
            deployment: {
              namespace: "proj-1",
              deploymentId: "dep-1",
              command: ["node", "server.js"],
              replicas: 2,
              cpuMillicores: 250,
              memorySizeMib: 256,
              port: 3000,
              env: { DATABASE_URL: "postgres://db/app" }
            }
          }
        },
        { method: "GetDeployment", contentType: "application/json", body: { namespace: "proj-1", deploymentId: "dep-1" } },
        { method: "DeleteDeployment", contentType: "application/json", body: { namespace: "proj-1", deploymentId: "dep-1" } }
      ])
    })
  )

  it.scoped("treats already_exists on create as success", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer({ alreadyExistsOnDuplicate: true })
      const krane = makeConnectKrane(server.url)

      yield* krane.createDeployment(spec)
      yield* krane.createDeployment(spec)

      expect(server.requestCount("CreateDeployment")).toBe(2)
      expect(server.krane.createsFor("dep-1")).toBe(1)
    })
  )

  it.scoped("maps not_found on get to KraneDeploymentNotFound", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      const error = yield* Effect.flip(makeConnectKrane(server.url).getDeployment("proj-1", "missing"))
      expect(error).toEqual(new KraneDeploymentNotFound({ namespace: "proj-1", deploymentId: "missing" }))
    })
  )

  it.scoped("treats delete of an unknown deployment as success, even when Krane says not_found", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer({ notFoundOnUnknownDelete: true })
      const krane = makeConnectKrane(server.url)
      yield* krane.deleteDeployment("proj-1", "never-created")
      expect(server.requestCount("DeleteDeployment")).toBe(1)
    })
  )

  it.scoped("deletes a deployment so that it is no longer found", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      const krane = makeConnectKrane(server.url)
      yield* krane.createDeployment(spec)
      yield* krane.deleteDeployment("proj-1", "dep-1")
      const error = yield* Effect.flip(krane.getDeployment("proj-1", "dep-1"))
      expect(error._tag).toBe("KraneDeploymentNotFound")
    })
  )

  for (const code of ["unavailable", "internal", "deadline_exceeded", "resource_exhausted"]) {
    it.scoped(`maps Connect ${code} to KraneUnavailable`, () =>
      Effect.gen(function* () {
        const server = yield* fakeKraneHttpServer()
        server.script("CreateDeployment", connectError(code, "try later"))
        const error = yield* Effect.flip(makeConnectKrane(server.url).createDeployment(spec))
        expect(error).toBeInstanceOf(KraneUnavailable)
        expect(error).toMatchObject({ operation: "createDeployment" })
      })
    )
  }

  it.scoped("maps a 5xx without a Connect body (e.g. a proxy page) to KraneUnavailable", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      server.script("GetDeployment", { httpStatus: 502, body: "<html>Bad Gateway</html>" })
      const error = yield* Effect.flip(makeConnectKrane(server.url).getDeployment("proj-1", "dep-1"))
      expect(error).toBeInstanceOf(KraneUnavailable)
    })
  )

  it.scoped("maps a failure inside Krane to KraneUnavailable end to end", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      server.krane.failCreate(1, new KraneUnavailable({ operation: "createDeployment", message: "node pool full" }))
      const krane = makeConnectKrane(server.url)
      const error = yield* Effect.flip(krane.createDeployment(spec))
      expect(error).toBeInstanceOf(KraneUnavailable)
      expect(error.message).toContain("node pool full")
      yield* krane.createDeployment(spec)
    })
  )

  it.scoped("maps invalid_argument to KraneRejected with code and message", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      server.script("CreateDeployment", connectError("invalid_argument", "image is required"))
      const error = yield* Effect.flip(makeConnectKrane(server.url).createDeployment(spec))
      expect(error).toEqual(
        new KraneRejected({ operation: "createDeployment", code: "invalid_argument", message: "image is required" })
      )
    })
  )

  it.scoped("maps unimplemented (HTTP 501) to KraneRejected, since retrying cannot help", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      server.script("DeleteDeployment", connectError("unimplemented", "no delete here"))
      const error = yield* Effect.flip(makeConnectKrane(server.url).deleteDeployment("proj-1", "dep-1"))
      expect(error).toMatchObject({ _tag: "KraneRejected", code: "unimplemented", operation: "deleteDeployment" })
    })
  )

  it.scoped("maps a timeout to KraneUnavailable", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      server.setDelayMs(2_000)
      const started = Date.now()
      const error = yield* Effect.flip(makeConnectKrane(server.url, { timeoutMs: 100 }).getDeployment("proj-1", "dep-1"))
      expect(error).toBeInstanceOf(KraneUnavailable)
      expect(Date.now() - started).toBeLessThan(1_500)
    })
  )

  it.effect("maps a refused connection to KraneUnavailable", () =>
    Effect.gen(function* () {
      const server = yield* Effect.promise(() => startFakeKraneHttpServer())
      yield* Effect.promise(() => server.close())
      const error = yield* Effect.flip(makeConnectKrane(server.url).createDeployment(spec))
      expect(error).toBeInstanceOf(KraneUnavailable)
    })
  )

  it.scoped("maps a success body that is not the expected shape to KraneUnavailable", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      server.script("GetDeployment", { httpStatus: 200, body: { instances: [{ id: "x", address: "h:1", status: "BOGUS" }] } })
      const error = yield* Effect.flip(makeConnectKrane(server.url).getDeployment("proj-1", "dep-1"))
      expect(error).toBeInstanceOf(KraneUnavailable)
    })
  )

  it.scoped("provides the port through ConnectKrane.layer", () =>
    Effect.gen(function* () {
      const server = yield* fakeKraneHttpServer()
      const instances = yield* Effect.gen(function* () {
        const krane = yield* Krane
        yield* krane.createDeployment({ ...spec, replicas: 1 })
        return yield* krane.getDeployment("proj-1", "dep-1")
      }).pipe(Effect.provide(ConnectKrane.layer(server.url)))
      expect(instances).toHaveLength(1)
    })
  )
})
