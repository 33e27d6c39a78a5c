/**
 * krane-local on its own: `tsx src/adapters/krane/local/main.ts`. Reads KRANE_LOCAL_PORT (default
 * 7070; 0 = any free port), KRANE_LOCAL_DATA (default .berth/krane-local) and KRANE_LOCAL_HEALTH_PATH
 * (default /), prints its URL, and on Ctrl-C (SIGINT/SIGTERM) stops every process it started, then exits.
 * The deployments stay recorded in the data dir: the next start runs them again.
 */
import { resolve } from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect } from "effect"
import { startKraneLocal } from "./KraneLocalServer.js"

const settings = Config.all({
  port: Config.integer("KRANE_LOCAL_PORT").pipe(
    Config.withDefault(7070),
    Config.validate({ message: "KRANE_LOCAL_PORT must be 0-65535", validation: (p) => p >= 0 && p <= 65_535 })
  ),
  dataDir: Config.string("KRANE_LOCAL_DATA").pipe(Config.withDefault(".berth/krane-local")),
  healthPath: Config.string("KRANE_LOCAL_HEALTH_PATH").pipe(
    Config.withDefault("/"),
    Config.validate({ message: "KRANE_LOCAL_HEALTH_PATH must start with /", validation: (p) => p.startsWith("/") })
  )
})

const program = Effect.gen(function* () {
  const { port, dataDir, healthPath } = yield* settings
  const { url } = yield* startKraneLocal({ port, dataDir, healthPath })
  yield* Console.log(`krane-local listening on ${url}  (instance logs: ${resolve(dataDir, "logs")}; Ctrl-C stops it and its processes)`)
  return yield* Effect.never
})

program.pipe(Effect.scoped, NodeRuntime.runMain)
