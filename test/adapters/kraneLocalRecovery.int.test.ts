/**
 * krane-local surviving crashes, for real: an instance whose process dies comes back (same id, same
 * port) after a backoff; a krane-local that crashed (`stopChildrenOnClose: false`) is succeeded by
 * one that adopts its processes from the state file, kills what it no longer tracks and finishes an
 * interrupted deletion; a cleanly stopped one runs its deployments again on the next start.
 * Every test ends by checking that no process carrying the data dir's marker survives.
 * `isAlive` counts a zombie as dead: the "crashed" krane-local lived in this process, so its
 * children are this process's to reap, which node does a moment after they exit.
 */
import { spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { KraneDeploymentNotFound } from "../../src/adapters/krane/Krane.js"
import { startKraneLocal, type KraneLocalOptions } from "../../src/adapters/krane/local/KraneLocalServer.js"
import { MARKER_VAR, isAlive, processesMarked } from "../../src/adapters/krane/local/ProcTable.js"
import {
  APP,
  IGNORES_SIGTERM,
  TEST_KRANE_SECRET,
  allRunning,
  eventually,
  httpText,
  pidsOf,
  sharedTempDir,
  spec,
  tempDir,
  testKraneClient
} from "../support/kraneLocal.js"
import { freeTcpPort } from "../support/berthProcess.js"

/** Leaves the time it started as a file in $START_DIR, then exits at once. */
const EXITS_AT_ONCE = `
require("node:fs").writeFileSync(require("node:path").join(process.env.START_DIR, String(Date.now()) + "-" + process.pid), "");
process.exit(3);
`

/** A krane-local on `dataDir` in the current scope, with its client. */
const kraneLocal = (dataDir: string, options: Partial<KraneLocalOptions> = {}) =>
  startKraneLocal({ dataDir, gracePeriodMs: 1_000, secret: TEST_KRANE_SECRET, ...options }).pipe(
    Effect.map((server) => testKraneClient(server.url))
  )

interface RecordedState {
  readonly token: string
  readonly deployments: ReadonlyArray<{
    readonly deploymentId: string
    readonly deleting: boolean
    readonly instances: ReadonlyArray<{ readonly id: string; readonly port: number; readonly pid: number | null }>
  }>
}
const stateOf = (dataDir: string) => JSON.parse(readFileSync(join(dataDir, "state.json"), "utf8")) as RecordedState

/** Processes started for this data dir's krane-local (they carry its marker) that are still running. */
const survivors = (dataDir: string) => processesMarked(`${stateOf(dataDir).token}:`).map((p) => p.pid)

/** How many processes krane-local started for the instance, by the headers it writes to the instance's log. */
const startsLogged = (dataDir: string, instanceId: string) => {
  const file = join(dataDir, "logs", "proj-1", `${instanceId}.log`)
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((line) => line.startsWith("--- ")).length : 0
}

/** Start times (ms) the EXITS_AT_ONCE processes recorded, in order. */
const startTimes = (dir: string): ReadonlyArray<number> =>
  readdirSync(dir)
    .map((name) => Number(name.split("-")[0]))
    .sort((a, b) => a - b)

describe("krane-local recovery", () => {
  it.scopedLive("restarts a crashed instance after a backoff, with the same id on the same port", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir("krane-local-")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir)
          yield* krane.createDeployment(spec("dep-crash", APP, { replicas: 2 }))
          const ready = yield* eventually(krane.getDeployment("proj-1", "dep-crash"), allRunning)
          const [victim, bystander] = yield* pidsOf(ready)
          if (victim === undefined || bystander === undefined) return expect.fail("two pids expected")

          const killedAt = Date.now()
          process.kill(victim, "SIGKILL")
          yield* eventually(krane.getDeployment("proj-1", "dep-crash"), (is) => is[0]?.status === "PENDING")
          const back = yield* eventually(krane.getDeployment("proj-1", "dep-crash"), allRunning)
          expect(Date.now() - killedAt).toBeGreaterThanOrEqual(200)
          expect(back).toEqual(ready)
          const [restarted, untouched] = yield* pidsOf(back)
          expect(restarted).not.toBe(victim)
          expect(untouched).toBe(bystander)
          expect(isAlive(victim)).toBe(false)
          expect(readFileSync(join(dataDir, "logs", "proj-1", "dep-crash-0.log"), "utf8")).toContain("(restart #1)")
          expect(stateOf(dataDir).deployments[0]?.instances.map((i) => i.pid)).toEqual([restarted, untouched])
        })
      )
      expect(survivors(dataDir)).toEqual([])
    })
  )

  it.scopedLive("backs off a command that keeps exiting, and one that cannot start at all, instead of spinning", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir("krane-local-")
      const startDir = yield* sharedTempDir("krane-local-starts-")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir)
          yield* krane.createDeployment(spec("dep-exits", EXITS_AT_ONCE, { env: { START_DIR: startDir } }))
          yield* krane.createDeployment(spec("dep-enoent", APP, { command: [join(startDir, "no-such-binary")] }))
          yield* Effect.sleep("3200 millis")

          for (const id of ["dep-exits", "dep-enoent"]) {
            expect((yield* krane.getDeployment("proj-1", id)).map((i) => i.status)).toEqual(["PENDING"])
          }
          // 0, +200, +400, +800, +1600 ms (plus start-up time): about five starts in 3.2 s, not hundreds.
          const starts = startsLogged(dataDir, "dep-exits-0")
          expect(starts).toBeGreaterThanOrEqual(4)
          expect(starts).toBeLessThanOrEqual(5)
          const enoent = startsLogged(dataDir, "dep-enoent-0")
          expect(enoent).toBeGreaterThanOrEqual(4)
          expect(enoent).toBeLessThanOrEqual(5)

          const times = startTimes(startDir)
          const gaps = times.slice(1).map((t, n) => t - (times[n] ?? t))
          expect(gaps.length).toBeGreaterThanOrEqual(3)
          gaps.forEach((gap, n) => {
            expect(gap).toBeGreaterThanOrEqual(200 * 2 ** n)
            expect(gap).toBeLessThan(200 * 2 ** n + 1_000)
          })
        })
      )
      expect(survivors(dataDir)).toEqual([])
    })
  )

  it.scopedLive("a successor adopts a crashed krane-local's processes (no second set), and deletes them", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir("krane-local-")
      const before = yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir, { stopChildrenOnClose: false })
          yield* krane.createDeployment(spec("dep-adopt", APP, { replicas: 2 }))
          const ready = yield* eventually(krane.getDeployment("proj-1", "dep-adopt"), allRunning)
          return { ready, pids: yield* pidsOf(ready) }
        })
      )
      // krane-local is gone; its processes are not, and the state file still names them.
      expect(before.pids.filter(isAlive)).toEqual(before.pids)
      expect(stateOf(dataDir).deployments[0]?.instances.map((i) => i.pid)).toEqual(before.pids)

      yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir)
          const adopted = yield* krane.getDeployment("proj-1", "dep-adopt")
          expect(adopted.map((i) => [i.id, i.address])).toEqual(before.ready.map((i) => [i.id, i.address]))
          expect(yield* eventually(krane.getDeployment("proj-1", "dep-adopt"), allRunning)).toEqual(before.ready)
          expect(yield* pidsOf(adopted)).toEqual(before.pids)
          yield* krane.createDeployment(spec("dep-adopt", APP, { replicas: 2 }))
          yield* Effect.sleep("500 millis")
          expect(yield* pidsOf(adopted)).toEqual(before.pids)
          expect(["dep-adopt-0", "dep-adopt-1"].map((id) => startsLogged(dataDir, id))).toEqual([1, 1])
          expect(survivors(dataDir).sort()).toEqual([...before.pids].sort())

          yield* krane.deleteDeployment("proj-1", "dep-adopt")
          expect(before.pids.filter(isAlive)).toEqual([])
          expect(yield* Effect.flip(krane.getDeployment("proj-1", "dep-adopt"))).toBeInstanceOf(KraneDeploymentNotFound)
          expect(stateOf(dataDir).deployments).toEqual([])
        })
      )
      expect(survivors(dataDir)).toEqual([])
    })
  )

  it.scopedLive("restarts an instance that died while krane-local was down, on its old port; kills strays it never recorded", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir("krane-local-")
      const before = yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir, { stopChildrenOnClose: false })
          yield* krane.createDeployment(spec("dep-half", APP, { replicas: 2 }))
          const ready = yield* eventually(krane.getDeployment("proj-1", "dep-half"), allRunning)
          return { ready, pids: yield* pidsOf(ready) }
        })
      )
      const [kept, died] = before.pids
      if (kept === undefined || died === undefined) return expect.fail("two pids expected")
      process.kill(died, "SIGKILL")
      // A process carrying this data dir's marker for an instance krane-local never recorded.
      const stray = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
        env: { ...process.env, [MARKER_VAR]: `${stateOf(dataDir).token}:${JSON.stringify(["proj-1", "ghost-0"])}` },
        stdio: "ignore",
        detached: true
      })
      const strayPid = stray.pid ?? expect.fail("stray did not start")
      yield* eventually(Effect.sync(() => isAlive(died)), (alive) => !alive)

      yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir)
          expect(isAlive(strayPid)).toBe(false)
          const back = yield* eventually(krane.getDeployment("proj-1", "dep-half"), allRunning)
          expect(back).toEqual(before.ready)
          const [adopted, restarted] = yield* pidsOf(back)
          expect(adopted).toBe(kept)
          expect(restarted).not.toBe(died)
        })
      )
      expect(survivors(dataDir)).toEqual([])
    })
  )

  it.scopedLive("after a clean stop, the next start runs the recorded deployments again", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir("krane-local-")
      const before = yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir)
          yield* krane.createDeployment(spec("dep-again", APP, { replicas: 2, env: { GREETING: "kept" } }))
          const ready = yield* eventually(krane.getDeployment("proj-1", "dep-again"), allRunning)
          return { ready, pids: yield* pidsOf(ready) }
        })
      )
      expect(before.pids.filter(isAlive)).toEqual([])
      expect(stateOf(dataDir).deployments.map((d) => [d.deploymentId, d.deleting, d.instances.map((i) => i.pid)])).toEqual([
        ["dep-again", false, [null, null]]
      ])

      yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir)
          const back = yield* eventually(krane.getDeployment("proj-1", "dep-again"), allRunning)
          expect(back).toEqual(before.ready)
          const pids = yield* pidsOf(back)
          expect(pids.some((pid) => before.pids.includes(pid))).toBe(false)
        })
      )
      expect(survivors(dataDir)).toEqual([])
    })
  )

  it.scopedLive("a deletion cut short by a crash is finished by the next start", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir("krane-local-")
      const pid = yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir, { stopChildrenOnClose: false, gracePeriodMs: 30_000 })
          yield* krane.createDeployment(spec("dep-doomed", IGNORES_SIGTERM))
          const ready = yield* eventually(krane.getDeployment("proj-1", "dep-doomed"), allRunning)
          const [pid] = yield* pidsOf(ready)
          const deleting = yield* Effect.fork(krane.deleteDeployment("proj-1", "dep-doomed"))
          yield* eventually(krane.getDeployment("proj-1", "dep-doomed"), (is) => is[0]?.status === "TERMINATING")
          yield* Fiber.interrupt(deleting)
          return pid ?? expect.fail("no pid")
        })
      )
      expect(isAlive(pid)).toBe(true)
      expect(stateOf(dataDir).deployments.map((d) => d.deleting)).toEqual([true])

      yield* Effect.scoped(
        Effect.gen(function* () {
          const krane = yield* kraneLocal(dataDir, { gracePeriodMs: 300 })
          yield* eventually(Effect.exit(krane.getDeployment("proj-1", "dep-doomed")), Exit.isFailure)
          expect(yield* Effect.flip(krane.getDeployment("proj-1", "dep-doomed"))).toBeInstanceOf(KraneDeploymentNotFound)
          expect(isAlive(pid)).toBe(false)
          expect(stateOf(dataDir).deployments).toEqual([])
        })
      )
      expect(survivors(dataDir)).toEqual([])
    })
  )

  it.scopedLive("runs a deployment recorded by a release that used one shared working directory, its relative paths resolved there", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir("krane-local-")
      const appDir = yield* sharedTempDir("krane-local-app-")
      writeFileSync(join(appDir, "app.js"), APP)
      const port = yield* Effect.promise(() => freeTcpPort())
      const legacy = {
        version: 1,
        token: "legacy01",
        deployments: [
          {
            namespace: "proj-1",
            deploymentId: "dep-legacy",
            command: [process.execPath, "app.js"],
            env: { GREETING: "from before" },
            replicas: 1,
            cwd: appDir,
            deleting: false,
            instances: [{ id: "dep-legacy-0", port, pid: null, startedAt: null, restarts: 0 }]
          }
        ]
      }
      writeFileSync(join(dataDir, "state.json"), JSON.stringify(legacy), { mode: 0o644 })

      const krane = yield* kraneLocal(dataDir)
      const [instance] = yield* eventually(krane.getDeployment("proj-1", "dep-legacy"), allRunning)
      expect(instance?.address).toBe(`127.0.0.1:${port}`)
      expect(yield* httpText(instance?.address ?? "", "/greeting")).toBe("from before")
      const rewritten = JSON.parse(readFileSync(join(dataDir, "state.json"), "utf8")) as typeof legacy
      expect(rewritten.deployments[0]?.command).toEqual([process.execPath, join(appDir, "app.js")])
      expect(rewritten.deployments[0]).not.toHaveProperty("cwd")
      expect(statSync(join(dataDir, "state.json")).mode & 0o777).toBe(0o600)
    })
  )
})
