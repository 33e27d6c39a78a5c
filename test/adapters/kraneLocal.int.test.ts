/**
 * krane-local for real: its Connect server driven by the real ConnectKrane client, running actual
 * child processes (`node -e` with a tiny HTTP server): readiness, env, idempotency, refusals,
 * deletion with SIGTERM then SIGKILL, and no process left behind when its scope closes.
 * Crash restarts and krane-local's own restarts: kraneLocalRecovery.int.test.ts.
 * Live clock throughout: krane-local's health checks and grace periods run on real time.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, type Scope } from "effect"
import {
  KraneDeploymentNotFound,
  KraneRejected,
  type KraneDeploymentSpec,
  type KraneService
} from "../../src/adapters/krane/Krane.js"
import { startKraneLocal, type KraneLocalOptions } from "../../src/adapters/krane/local/KraneLocalServer.js"
import {
  APP,
  IGNORES_SIGTERM,
  TEST_KRANE_SECRET,
  allRunning,
  eventually,
  httpText,
  kraneAuthorization,
  pidsOf,
  sharedTempDir,
  spec,
  testKraneClient
} from "../support/kraneLocal.js"
import { isAlive } from "../support/processes.js"

/** Never listens; leaves its pid as a file name in $PID_DIR so the test can find it. */
const NEVER_LISTENS = `
require("node:fs").writeFileSync(require("node:path").join(process.env.PID_DIR, String(process.pid)), "");
setInterval(() => {}, 1000);
`
const EXITS = `process.exit(3)`

interface Harness {
  readonly url: string
  readonly dataDir: string
  readonly krane: KraneService
}

const kraneLocal = (options: Partial<KraneLocalOptions> = {}): Effect.Effect<Harness, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const dataDir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "krane-local-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const server = yield* startKraneLocal({ dataDir, gracePeriodMs: 1_000, secret: TEST_KRANE_SECRET, ...options })
    return { url: server.url, dataDir, krane: testKraneClient(server.url) }
  })

/** True when nothing accepts TCP connections on host:port any more. */
const refusesConnections = (address: string) =>
  Effect.async<boolean>((resume) => {
    const [host = "", port = ""] = address.split(":")
    const socket = connect(Number(port), host)
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code === "ECONNREFUSED")))
  })

describe("krane-local", () => {
  it.scopedLive("runs replicas as processes that become RUNNING, serve HTTP with their env, and creation is idempotent", () =>
    Effect.gen(function* () {
      const { krane } = yield* kraneLocal()
      const deployment = spec("dep-1", APP, { replicas: 2, env: { GREETING: "hi from env", START_DELAY_MS: "400" } })

      yield* krane.createDeployment(deployment)
      const early = yield* krane.getDeployment("proj-1", "dep-1")
      expect(early.map((i) => i.id)).toEqual(["dep-1-0", "dep-1-1"])
      expect(early.every((i) => i.status === "PENDING" || i.status === "RUNNING")).toBe(true)

      const ready = yield* eventually(krane.getDeployment("proj-1", "dep-1"), allRunning)
      expect(ready).toHaveLength(2)
      expect(new Set(ready.map((i) => i.address)).size).toBe(2)
      for (const instance of ready) {
        expect(instance.address).toMatch(/^127\.0\.0\.1:\d+$/)
        expect(yield* httpText(instance.address)).toBe("hello")
        expect(yield* httpText(instance.address, "/greeting")).toBe("hi from env")
      }
      const pids = yield* pidsOf(ready)

      yield* krane.createDeployment(deployment)
      const again = yield* krane.getDeployment("proj-1", "dep-1")
      expect(again).toEqual(ready)
      expect(yield* pidsOf(again)).toEqual(pids)
    })
  )

  it.scopedLive("refuses image sources, and knows no deployment it was not given", () =>
    Effect.gen(function* () {
      const { krane } = yield* kraneLocal()
      const imageOnly: KraneDeploymentSpec = { ...spec("dep-img", APP), command: [], image: "ghcr.io/acme/app:1" }
      const { command: _ignored, ...withoutCommand } = imageOnly

      for (const candidate of [imageOnly, withoutCommand]) {
        const refused = yield* Effect.flip(krane.createDeployment(candidate))
        expect(refused).toEqual(
          new KraneRejected({
            operation: "createDeployment",
            code: "failed_precondition",
            message: "image sources are unsupported by krane-local: give the deployment a command"
          })
        )
      }
      expect(yield* Effect.flip(krane.getDeployment("proj-1", "dep-img"))).toEqual(
        new KraneDeploymentNotFound({ namespace: "proj-1", deploymentId: "dep-img" })
      )
      expect(yield* Effect.flip(krane.getDeployment("proj-1", "nope"))).toBeInstanceOf(KraneDeploymentNotFound)
      yield* krane.deleteDeployment("proj-1", "nope")
    })
  )

  it.scopedLive("delete stops the processes: their ports refuse connections and the deployment is gone", () =>
    Effect.gen(function* () {
      const { krane } = yield* kraneLocal()
      yield* krane.createDeployment(spec("dep-del", APP, { replicas: 2 }))
      const ready = yield* eventually(krane.getDeployment("proj-1", "dep-del"), allRunning)
      const pids = yield* pidsOf(ready)

      yield* krane.deleteDeployment("proj-1", "dep-del")

      for (const instance of ready) expect(yield* refusesConnections(instance.address)).toBe(true)
      expect(pids.filter(isAlive)).toEqual([])
      expect(yield* Effect.flip(krane.getDeployment("proj-1", "dep-del"))).toBeInstanceOf(KraneDeploymentNotFound)
      yield* krane.deleteDeployment("proj-1", "dep-del")
    })
  )

  it.scopedLive("a process that never listens stays PENDING; one that keeps exiting stays PENDING too (restarted)", () =>
    Effect.gen(function* () {
      const { krane } = yield* kraneLocal()
      const pidDir = yield* sharedTempDir("krane-local-pids-")
      yield* krane.createDeployment(spec("dep-silent", NEVER_LISTENS, { env: { PID_DIR: pidDir } }))
      yield* krane.createDeployment(spec("dep-exits", EXITS))

      yield* Effect.sleep("1500 millis")
      const silent = yield* krane.getDeployment("proj-1", "dep-silent")
      expect(silent.map((i) => i.status)).toEqual(["PENDING"])
      const exits = yield* krane.getDeployment("proj-1", "dep-exits")
      expect(exits.map((i) => [i.id, i.status])).toEqual([["dep-exits-0", "PENDING"]])
    })
  )

  it.scopedLive("reports TERMINATING during the grace period, then SIGKILLs a process that ignores SIGTERM", () =>
    Effect.gen(function* () {
      const { krane } = yield* kraneLocal({ gracePeriodMs: 1_500 })
      yield* krane.createDeployment(spec("dep-stubborn", IGNORES_SIGTERM))
      const ready = yield* eventually(krane.getDeployment("proj-1", "dep-stubborn"), allRunning)
      const [pid] = yield* pidsOf(ready)

      const started = Date.now()
      const deleting = yield* Effect.fork(krane.deleteDeployment("proj-1", "dep-stubborn"))
      const terminating = yield* eventually(krane.getDeployment("proj-1", "dep-stubborn"), (is) => is[0]?.status === "TERMINATING")
      expect(terminating.map((i) => i.address)).toEqual(ready.map((i) => i.address))
      expect(Exit.isSuccess(yield* Fiber.await(deleting))).toBe(true)

      expect(Date.now() - started).toBeGreaterThanOrEqual(1_400)
      expect(pid !== undefined && isAlive(pid)).toBe(false)
      expect(yield* Effect.flip(krane.getDeployment("proj-1", "dep-stubborn"))).toBeInstanceOf(KraneDeploymentNotFound)
    })
  )

  it.scopedLive("closing its scope stops every child, leaving no orphans", () =>
    Effect.gen(function* () {
      const pidDir = yield* sharedTempDir("krane-local-pids-")
      const pids = yield* Effect.scoped(
        Effect.gen(function* () {
          const { krane } = yield* kraneLocal({ gracePeriodMs: 500 })
          yield* krane.createDeployment(spec("dep-a", APP, { replicas: 2 }))
          yield* krane.createDeployment(spec("dep-b", IGNORES_SIGTERM))
          yield* krane.createDeployment(spec("dep-c", NEVER_LISTENS, { replicas: 2, env: { PID_DIR: pidDir } }))
          const a = yield* eventually(krane.getDeployment("proj-1", "dep-a"), allRunning)
          const b = yield* eventually(krane.getDeployment("proj-1", "dep-b"), allRunning)
          const silent = yield* eventually(
            Effect.sync(() => readdirSync(pidDir).map(Number)),
            (found) => found.length === 2
          )
          const all = [...(yield* pidsOf(a)), ...(yield* pidsOf(b)), ...silent]
          expect(all.filter(isAlive)).toHaveLength(5)
          return all
        })
      )
      expect(pids.filter(isAlive)).toEqual([])
    })
  )

  it.scopedLive("speaks the wire directly: snake_case requests, Connect errors for malformed ones", () =>
    Effect.gen(function* () {
      const { url } = yield* kraneLocal()
      const post = (method: string, body: string) =>
        Effect.promise(() =>
          fetch(`${url}/krane.v1.DeploymentService/${method}`, {
            method: "POST",
            headers: { "content-type": "application/json", ...kraneAuthorization },
            body
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as unknown }))
        )
      const created = yield* post(
        "CreateDeployment",
        JSON.stringify({
          deployment: {
            namespace: "proj-1",
            deployment_id: "dep-snake",
            replicas: "1",
            cpu_millicores: 100,
            memory_size_mib: "128",
            command: [process.execPath, "-e", APP]
          }
        })
      )
      expect(created).toEqual({ status: 200, body: { status: "DEPLOYMENT_STATUS_PENDING" } })
      const got = yield* post("GetDeployment", JSON.stringify({ namespace: "proj-1", deployment_id: "dep-snake" }))
      expect(got.status).toBe(200)
      expect(got.body).toMatchObject({ instances: [{ id: "dep-snake-0" }] })

      expect(yield* post("GetDeployment", "{not json")).toEqual({
        status: 400,
        body: { code: "invalid_argument", message: "request body is not valid JSON" }
      })
      const badShape = yield* post("CreateDeployment", JSON.stringify({ deployment: { namespace: 1 } }))
      expect(badShape.status).toBe(400)
      expect(badShape.body).toMatchObject({ code: "invalid_argument" })
      expect(yield* post("GetDeployment", JSON.stringify({ namespace: "proj-1", deploymentId: "ghost" }))).toEqual({
        status: 404,
        body: { code: "not_found", message: "deployment not found: ghost" }
      })
      expect(yield* post("DeleteDeployment", JSON.stringify({ namespace: "proj-1", deploymentId: "ghost" }))).toEqual({
        status: 200,
        body: {}
      })
    })
  )
})
