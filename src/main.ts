/**
 * Composition root: `npm start`. Starts (or connects to) NATS with JetStream, PostgreSQL and a Krane,
 * then runs the orchestrator (command intake, project actors), the projector and the status API.
 * Reads like a table of contents of the system; everything it starts stops on Ctrl-C.
 */
import { mkdirSync, writeFileSync, rmSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { ConfigError, Console, Context, Effect, Layer, Option } from "effect"
import { OrchestratorLive } from "./actors/Orchestrator.js"
import { ConnectKrane } from "./adapters/krane/ConnectKrane.js"
import { startKraneLocal } from "./adapters/krane/local/KraneLocalServer.js"
import { Gateway } from "./adapters/gateway/Gateway.js"
import { ApiServer } from "./api/server.js"
import { orchestratorSettings } from "./config.js"
import { Nats } from "./eventstore/Nats.js"
import { choosePort } from "./local/binaries.js"
import { startNatsServer } from "./local/NatsServer.js"
import { startPostgresServer } from "./local/PostgresServer.js"
import { Database } from "./projections/Database.js"
import { Projector } from "./projections/Projector.js"
import { localPorts, runtimeConfig } from "./runtimeConfig.js"

const projectRoot = fileURLToPath(new URL("..", import.meta.url))

/** An external service when its URL is given, else one of ours under the data dir. */
const natsUrlFor = (given: Option.Option<string>, dataDir: string) =>
  Option.match(given, {
    onSome: Effect.succeed,
    onNone: () =>
      startNatsServer({ dataDir: join(dataDir, "nats"), port: localPorts.nats, configPath: join(projectRoot, "nats.conf") }).pipe(
        Effect.map((server) => server.url)
      )
  })

const databaseUrlFor = (given: Option.Option<string>, dataDir: string) =>
  Option.match(given, {
    onSome: Effect.succeed,
    onNone: () =>
      startPostgresServer({ dataDir: join(dataDir, "postgres"), port: localPorts.postgres }).pipe(Effect.map((server) => server.url))
  })

const kraneUrlFor = (given: Option.Option<string>, dataDir: string, port: number) =>
  Option.match(given, {
    onSome: Effect.succeed,
    onNone: () =>
      startKraneLocal({ dataDir: join(dataDir, "krane-local"), port, cwd: projectRoot }).pipe(
        Effect.map((server) => server.url)
      )
  })

const banner = (urls: { api: string; gateway: string; nats: string; database: string; krane: string; runFile: string }) => `
Berth is running.
  status API   ${urls.api}   (OpenAPI: ${urls.api}/openapi.json, docs: ${urls.api}/docs)
  gateway      ${urls.gateway}   (routes by Host: curl ${urls.gateway.replace("127.0.0.1", "hello-acme.berth.localhost")}/)
  NATS         ${urls.nats}   (commands: berth.cmd.<projectId>, events: berth.evt.<projectId>)
  PostgreSQL   ${urls.database}
  Krane        ${urls.krane}

Send a first command (in another terminal):
  ./bin/berth project create proj_hello --workspace acme --apex berth.localhost
  ./bin/berth deploy proj_hello --id dep_hello_1 --set APP_VERSION=v1 --wait -- node examples/hello/server.js
  curl -s ${urls.gateway.replace("127.0.0.1", "hello-acme.berth.localhost")}/
(or publish raw JSON to NATS: npm run send -- examples/commands/create-project.json)

Ctrl-C stops everything Berth started. (Connection details: ${urls.runFile})
`

const program = Effect.gen(function* () {
  const config = yield* runtimeConfig
  const settings = yield* orchestratorSettings
  const dataDir = resolve(projectRoot, config.dataDir)
  mkdirSync(dataDir, { recursive: true })

  const natsUrl = yield* natsUrlFor(config.natsUrl, dataDir)
  const databaseUrl = yield* databaseUrlFor(config.databaseUrl, dataDir)
  const kraneUrl = yield* kraneUrlFor(config.kraneUrl, dataDir, config.kraneLocalPort)
  const apiPort = yield* choosePort(config.apiPort, "status API")
  const gatewayPort = yield* choosePort(config.gatewayPort, "gateway")

  const berth = Layer.mergeAll(
    OrchestratorLive(settings),
    Projector.layer(),
    ApiServer.layer({ port: apiPort, host: config.apiHost }),
    Gateway.layer({ port: gatewayPort, host: config.gatewayHost })
  ).pipe(Layer.provide(ConnectKrane.layer(kraneUrl)), Layer.provide(Nats.layer(natsUrl)), Layer.provide(Database.layer(databaseUrl)))
  const context = yield* Layer.build(berth)

  // The running projector rebuilds (it pauses its own consumer), so nothing races the replay.
  if (process.argv.includes("--rebuild-read-model")) {
    const projector = Context.get(context, Projector)
    yield* Console.log("rebuilding the read model from BERTH_EVENTS …")
    yield* projector.rebuild
    yield* Console.log(`read model rebuilt up to stream sequence ${yield* projector.checkpoint}`)
  }

  const api = `http://${config.apiHost}:${apiPort}`
  const gateway = Context.get(context, Gateway).url
  const runFile = join(dataDir, "run.json")
  yield* Effect.acquireRelease(
    Effect.sync(() => writeFileSync(runFile, JSON.stringify({ api, gateway, natsUrl, databaseUrl, kraneUrl }, null, 2))),
    () => Effect.sync(() => rmSync(runFile, { force: true }))
  )
  yield* Console.log(banner({ api, gateway, nats: natsUrl, database: databaseUrl, krane: kraneUrl, runFile }))
  return yield* Effect.never
})

/** Configuration mistakes are one clear line, not a stack trace. */
const explainConfigErrors = Effect.catchIf(ConfigError.isConfigError, (error) =>
  Console.error(`Berth cannot start: configuration error: ${String(error)}`).pipe(
    Effect.andThen(Effect.sync(() => void (process.exitCode = 2)))
  )
)

program.pipe(Effect.scoped, explainConfigErrors, NodeRuntime.runMain)
