/**
 * krane-local on its own: `tsx src/adapters/krane/local/main.ts`. Reads KRANE_LOCAL_PORT (default
 * 7070; 0 = any free port), KRANE_LOCAL_DATA (default .berth/krane-local), KRANE_LOCAL_HEALTH_PATH
 * (default /), KRANE_LOCAL_RUN_AS (the user instances run as when started by root; default nobody)
 * and its secret (KraneLocalSecret.ts: KRANE_LOCAL_SECRET, else the generated file beside the data
 * dir), prints its URL, and on Ctrl-C (SIGINT/SIGTERM) stops every process it started, then exits.
 * The deployments stay recorded in the data dir: the next start runs them again.
 */
import { dirname, resolve } from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Redacted } from "effect"
import { startKraneLocal } from "./KraneLocalServer.js"
import { kraneLocalSecret, kraneLocalSecretFile } from "./KraneLocalSecret.js"

const settings = Config.all({
  port: Config.integer("KRANE_LOCAL_PORT").pipe(
    Config.withDefault(7070),
    Config.validate({ message: "KRANE_LOCAL_PORT must be 0-65535", validation: (p) => p >= 0 && p <= 65_535 })
  ),
  dataDir: Config.string("KRANE_LOCAL_DATA").pipe(Config.withDefault(".berth/krane-local")),
  healthPath: Config.string("KRANE_LOCAL_HEALTH_PATH").pipe(
    Config.withDefault("/"),
    Config.validate({ message: "KRANE_LOCAL_HEALTH_PATH must start with /", validation: (p) => p.startsWith("/") })
  ),
  runAs: Config.string("KRANE_LOCAL_RUN_AS").pipe(Config.withDefault("nobody"))
})

const program = Effect.gen(function* () {
  const { port, dataDir, healthPath, runAs } = yield* settings
  const secretFile = kraneLocalSecretFile(dirname(resolve(dataDir)))
  const secret = yield* kraneLocalSecret(secretFile)
  const { url } = yield* startKraneLocal({
    port,
    dataDir,
    healthPath,
    runAs,
    secret: secret === null ? null : Redacted.value(secret.value)
  })
  const auth = secret === null ? "NO authentication: KRANE_LOCAL_INSECURE=1" : `bearer token required, from ${secret.source}`
  yield* Console.log(`krane-local listening on ${url}  (${auth}; instance logs: ${resolve(dataDir, "logs")}; Ctrl-C stops it and its processes)`)
  return yield* Effect.never
})

program.pipe(Effect.scoped, NodeRuntime.runMain)
