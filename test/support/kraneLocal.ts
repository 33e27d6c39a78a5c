/**
 * Shared pieces of the krane-local tests: tiny apps to run as instances, a deployment spec, a scoped
 * temp dir, and polling/HTTP helpers.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Duration, Effect, Redacted, Schedule } from "effect"
import { makeConnectKrane } from "../../src/adapters/krane/ConnectKrane.js"
import type { KraneDeploymentSpec, KraneInstance } from "../../src/adapters/krane/Krane.js"

/** Answers / with "hello", /greeting with $GREETING, /pid with its pid; listens after $START_DELAY_MS. */
export const APP = `
const http = require("node:http");
setTimeout(() => {
  http.createServer((req, res) => {
    if (req.url === "/pid") return res.end(String(process.pid));
    if (req.url === "/greeting") return res.end(process.env.GREETING || "");
    res.end("hello");
  }).listen(Number(process.env.PORT), "127.0.0.1");
}, Number(process.env.START_DELAY_MS || 0));
`
export const IGNORES_SIGTERM = `process.on("SIGTERM", () => console.log("ignoring SIGTERM"));\n${APP}`

/** A deployment running `node -e script`. */
export const spec = (deploymentId: string, script: string, extra: Partial<KraneDeploymentSpec> = {}): KraneDeploymentSpec => ({
  namespace: "proj-1",
  deploymentId,
  command: [process.execPath, "-e", script],
  replicas: 1,
  cpuMillicores: 100,
  memorySizeMib: 128,
  ...extra
})

/** The secret the tests' krane-local servers require. */
export const TEST_KRANE_SECRET = "test-krane-local-secret"

/** The Authorization header krane-local accepts. */
export const kraneAuthorization = { authorization: `Bearer ${TEST_KRANE_SECRET}` } as const

/** A ConnectKrane client carrying the tests' secret. */
export const testKraneClient = (url: string) => makeConnectKrane(url, { token: Redacted.make(TEST_KRANE_SECRET) })

/**
 * A temp dir instances can write to (mode 1777, like /tmp), removed when the scope closes: when the
 * tests run as root, krane-local runs instances as nobody.
 */
export const sharedTempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), prefix))
      chmodSync(dir, 0o1777)
      return dir
    }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** A temp dir removed when the scope closes. */
export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** Polls `effect` until `done` holds, failing with the last value seen after `within`. */
export const eventually = <A, E>(
  effect: Effect.Effect<A, E>,
  done: (a: A) => boolean,
  within: Duration.DurationInput = "10 seconds",
  every: Duration.DurationInput = "50 millis"
) => {
  let last: A | undefined
  return effect.pipe(
    Effect.tap((a) => Effect.sync(() => (last = a))),
    Effect.filterOrFail(done, () => "not yet"),
    Effect.retry(Schedule.spaced(every)),
    Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`condition not met; last seen: ${JSON.stringify(last)}`) })
  )
}

export const allRunning = (instances: ReadonlyArray<KraneInstance>) =>
  instances.length > 0 && instances.every((i) => i.status === "RUNNING")

export const httpText = (address: string, path = "/") =>
  Effect.promise(() => fetch(`http://${address}${path}`, { headers: { connection: "close" } }).then((r) => r.text()))

/** The pids the instances report on /pid. */
export const pidsOf = (instances: ReadonlyArray<KraneInstance>) =>
  Effect.forEach(instances, (i) => httpText(i.address, "/pid").pipe(Effect.map(Number)))
