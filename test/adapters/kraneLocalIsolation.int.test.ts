/**
 * krane-local as a trust boundary, for real (its server, the ConnectKrane client, `node -e` instances):
 * an instance sees only its own env plus PORT (never krane-local's environment, which under Berth holds
 * DATABASE_URL, NATS_URL and the KRANE_* / BERTH_* settings).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeConnectKrane } from "../../src/adapters/krane/ConnectKrane.js"
import { startKraneLocal } from "../../src/adapters/krane/local/KraneLocalServer.js"
import { APP, allRunning, eventually, httpText, spec, tempDir } from "../support/kraneLocal.js"

/** Settings a Berth process has in its environment; set on this (krane-local's) process for the test. */
const BERTH_LIKE = {
  DATABASE_URL: "postgres://postgres:hunter2@127.0.0.1:5442/berth",
  NATS_URL: "nats://127.0.0.1:4322",
  BERTH_ADMIN_TOKEN: "berth_admin_secret",
  KRANE_TOKEN: "krane-secret"
}

const withEnvironment = (vars: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
      Object.assign(process.env, vars)
      return before
    }),
    (before) =>
      Effect.sync(() => {
        for (const [k, v] of Object.entries(before)) {
          if (v === undefined) delete process.env[k]
          else process.env[k] = v
        }
      })
  )

describe("krane-local isolation", () => {
  it.scopedLive("gives an instance only its own env plus PORT, none of krane-local's environment", () =>
    Effect.gen(function* () {
      yield* withEnvironment(BERTH_LIKE)
      const dataDir = yield* tempDir("krane-local-iso-")
      const server = yield* startKraneLocal({ dataDir, gracePeriodMs: 1_000 })
      const krane = makeConnectKrane(server.url)

      yield* krane.createDeployment(spec("dep-env", APP, { env: { GREETING: "own value" } }))
      const [instance] = yield* eventually(krane.getDeployment("proj-1", "dep-env"), allRunning)
      if (instance === undefined) return expect.unreachable("no instance")
      const env = JSON.parse(yield* httpText(instance.address, "/env")) as Record<string, string>

      expect(Object.keys(env).sort()).toEqual(["GREETING", "HOME", "LOCAL_INSTANCE_MARKER", "PATH", "PORT"])
      expect(env.GREETING).toBe("own value")
      expect(env.PORT).toBe(instance.address.split(":")[1])
      expect(JSON.stringify(env)).not.toMatch(/hunter2|berth_admin_secret|krane-secret|4322/)
    })
  )
})
