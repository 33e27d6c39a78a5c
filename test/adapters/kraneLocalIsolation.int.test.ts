/**
 * krane-local as a trust boundary, for real (its server, the ConnectKrane client, `node -e` instances),
 * tried as an attacker would: a request without the secret is refused; an instance sees only its own
 * env plus PORT (never krane-local's environment, which under Berth holds DATABASE_URL, NATS_URL and
 * the KRANE_* / BERTH_* settings), runs in its own directory as an unprivileged user when krane-local
 * is root, and cannot read krane-local's state file (every deployment's env) or logs.
 */
import { existsSync, statSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { makeConnectKrane } from "../../src/adapters/krane/ConnectKrane.js"
import { KraneRejected } from "../../src/adapters/krane/Krane.js"
import { startKraneLocal } from "../../src/adapters/krane/local/KraneLocalServer.js"
import { SERVICE_PATH } from "../../src/adapters/krane/KraneWire.js"
import { lookupOsUser } from "../../src/local/osUser.js"
import { APP, TEST_KRANE_SECRET, allRunning, eventually, httpText, spec, tempDir, testKraneClient } from "../support/kraneLocal.js"

/** Settings a Berth process has in its environment; set on this (krane-local's) process for the test. */
const BERTH_LIKE = {
  DATABASE_URL: "postgres://postgres:hunter2@127.0.0.1:5442/berth",
  NATS_URL: "nats://127.0.0.1:4322",
  BERTH_ADMIN_TOKEN: "berth_admin_secret",
  KRANE_TOKEN: "krane-secret"
}

/** An app that reports who and where it is and what it can reach: /env its environment, / the rest. */
const PROBE = `
const http = require("node:http"), fs = require("node:fs");
const attempt = (f) => { try { f(); return "ok" } catch (e) { return e.code } };
http.createServer((req, res) => {
  if (req.url === "/env") return res.end(JSON.stringify(process.env));
  res.end(JSON.stringify({
    uid: process.getuid(), gid: process.getgid(), cwd: process.cwd(),
    writeCwd: attempt(() => fs.writeFileSync("probe.txt", "x")),
    readState: attempt(() => fs.readFileSync(process.env.STATE_FILE)),
    listLogs: attempt(() => fs.readdirSync(process.env.LOGS_DIR))
  }));
}).listen(Number(process.env.PORT), "127.0.0.1");
`
interface Probe {
  readonly uid: number
  readonly gid: number
  readonly cwd: string
  readonly writeCwd: string
  readonly readState: string
  readonly listLogs: string
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

const kraneLocal = Effect.gen(function* () {
  const dataDir = yield* tempDir("krane-local-iso-")
  const server = yield* startKraneLocal({ dataDir, gracePeriodMs: 1_000, secret: TEST_KRANE_SECRET })
  return { dataDir, url: server.url, krane: testKraneClient(server.url) }
})

const post = (url: string, path: string, headers: Record<string, string>) =>
  Effect.promise(() =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ namespace: "proj-1", deploymentId: "dep-x" })
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as unknown }))
  )

const mode = (path: string) => statSync(path).mode & 0o777

describe("krane-local isolation", () => {
  it.scopedLive("refuses a request without the secret, or with a wrong one (401 unauthenticated), and serves one with it", () =>
    Effect.gen(function* () {
      const { url, krane } = yield* kraneLocal
      const getDeployment = `${SERVICE_PATH}/GetDeployment`
      const refused = { status: 401, body: { code: "unauthenticated", message: "missing or wrong bearer token" } }

      expect(yield* post(url, getDeployment, {})).toEqual(refused)
      expect(yield* post(url, getDeployment, { authorization: "Bearer not-the-secret" })).toEqual(refused)
      expect(yield* post(url, getDeployment, { authorization: TEST_KRANE_SECRET })).toEqual(refused)
      // Not even which paths exist.
      expect(yield* post(url, "/nothing/here", {})).toEqual(refused)
      expect(yield* post(url, getDeployment, { authorization: `Bearer ${TEST_KRANE_SECRET}` })).toEqual({
        status: 404,
        body: { code: "not_found", message: "deployment not found: dep-x" }
      })

      const anonymous = makeConnectKrane(url)
      const wrong = makeConnectKrane(url, { token: Redacted.make("wrong-secret-wrong-secret") })
      for (const client of [anonymous, wrong]) {
        const error = yield* Effect.flip(client.createDeployment(spec("dep-pwn", APP)))
        expect(error).toEqual(
          new KraneRejected({ operation: "createDeployment", code: "unauthenticated", message: "missing or wrong bearer token" })
        )
      }
      yield* krane.createDeployment(spec("dep-ok", APP))
      expect(yield* eventually(krane.getDeployment("proj-1", "dep-ok"), allRunning)).toHaveLength(1)
      expect(yield* Effect.flip(krane.getDeployment("proj-1", "dep-pwn"))).toMatchObject({ _tag: "KraneDeploymentNotFound" })
    })
  )

  it.scopedLive("gives an instance only its own env plus PORT, PATH and HOME: none of krane-local's environment", () =>
    Effect.gen(function* () {
      yield* withEnvironment(BERTH_LIKE)
      const { krane } = yield* kraneLocal

      yield* krane.createDeployment(spec("dep-env", PROBE, { env: { GREETING: "own value" } }))
      const [instance] = yield* eventually(krane.getDeployment("proj-1", "dep-env"), allRunning)
      if (instance === undefined) return expect.unreachable("no instance")
      const env = JSON.parse(yield* httpText(instance.address, "/env")) as Record<string, string>

      expect(Object.keys(env).sort()).toEqual(["GREETING", "HOME", "LOCAL_INSTANCE_MARKER", "PATH", "PORT"])
      expect(env.GREETING).toBe("own value")
      expect(env.PORT).toBe(instance.address.split(":")[1])
      expect(JSON.stringify(env)).not.toMatch(/hunter2|berth_admin_secret|krane-secret|4322|DATABASE|NATS|BERTH_|KRANE_/)
    })
  )

  it.scopedLive("runs an instance in its own directory, as nobody when krane-local is root, unable to read krane-local's state or logs", () =>
    Effect.gen(function* () {
      const { dataDir, krane } = yield* kraneLocal
      const stateFile = join(dataDir, "state.json")
      const logsDir = join(dataDir, "logs")
      yield* krane.createDeployment(spec("dep-who", PROBE, { env: { STATE_FILE: stateFile, LOGS_DIR: logsDir } }))
      const [instance] = yield* eventually(krane.getDeployment("proj-1", "dep-who"), allRunning)
      if (instance === undefined) return expect.unreachable("no instance")
      const probe = JSON.parse(yield* httpText(instance.address)) as Probe
      const workDir = join(dataDir, "instances", "proj-1", "dep-who-0")

      const root = process.getuid?.() === 0
      const nobody = lookupOsUser("nobody")
      const expectedUid = root ? nobody?.uid : process.getuid?.()
      expect(expectedUid).toBeDefined()
      expect(probe).toMatchObject({ uid: expectedUid, cwd: workDir, writeCwd: "ok" })
      expect(statSync(workDir).uid).toBe(expectedUid)
      expect(mode(workDir)).toBe(0o700)
      // Owner-only: the state file holds every deployment's env, the logs their output.
      expect(mode(stateFile)).toBe(0o600)
      expect(mode(logsDir)).toBe(0o700)
      expect(mode(join(logsDir, "proj-1", "dep-who-0.log"))).toBe(0o600)
      expect(mode(dataDir) & 0o066).toBe(0)
      if (root) expect(probe).toMatchObject({ readState: "EACCES", listLogs: "EACCES" })
      else expect(probe).toMatchObject({ readState: "ok", listLogs: "ok" }) // same user: only the OS user keeps them apart

      yield* krane.deleteDeployment("proj-1", "dep-who")
      expect(existsSync(workDir)).toBe(false)
    })
  )
})
