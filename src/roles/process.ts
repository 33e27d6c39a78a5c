/**
 * One role in this process: `node --import tsx src/roles/process.ts <role> [--rebuild-read-model]`.
 * The supervisor (src/roles/Supervisor.ts) starts it with the URLs it needs in its environment
 * (NATS_URL; DATABASE_URL for the projector and the API; KRANE_URL for the orchestrator), hears
 * through the IPC channel when it is ready, and restarts it when it dies. Without a supervisor (no
 * IPC channel) it runs the same way on its own, e.g. under systemd on another machine.
 */
import { NodeRuntime } from "@effect/platform-node"
import { ConfigError, Console, Effect, Either, Option, type Scope } from "effect"
import { orchestratorSettings } from "../config.js"
import { natsAuthConfig, refusedCredentials } from "../nats/natsAuth.js"
import { replicasSetting } from "../nats/replicas.js"
import { dataDirOf, runtimeConfig } from "../runtimeConfig.js"
import type { RoleEndpoints, RoleStarted } from "./layers/endpoints.js"
import { berthRoles, type BerthRole, configurationExitCode, parseRoles, type RoleReady } from "./roles.js"

const roleArgument = (): Either.Either<BerthRole, string> => {
  const name = process.argv[2] ?? ""
  return Either.flatMap(parseRoles(name), (roles) =>
    roles.length === 1 && roles[0] !== undefined && name !== "all"
      ? Either.right(roles[0])
      : Either.left(`usage: process.ts <role>, one of ${berthRoles.join(", ")}`)
  )
}

/** Only the role's own code is loaded: a role never imports (or breaks on) another's. */
const startRole = (role: BerthRole, endpoints: RoleEndpoints): Effect.Effect<RoleStarted, unknown, Scope.Scope> =>
  Effect.flatMap(
    Effect.promise(async () => {
      switch (role) {
        case "orchestrator":
          return (await import("./layers/orchestrator.js")).start
        case "projector":
          return (await import("./layers/projector.js")).start
        case "api":
          return (await import("./layers/api.js")).start
        case "gateway":
          return (await import("./layers/gateway.js")).start
      }
    }),
    (start) => start(endpoints)
  )

const tellSupervisor = (message: RoleReady) => Effect.sync(() => process.send?.(message))

const program = Effect.gen(function* () {
  const role = yield* Either.match(roleArgument(), {
    onLeft: (message) => Effect.fail(ConfigError.InvalidData([], message)),
    onRight: Effect.succeed
  })
  const config = yield* runtimeConfig
  // Read here so a bad value is a configuration error (exit 78), not a crash loop: Nats.layer reads it again.
  yield* replicasSetting
  const endpoints: RoleEndpoints = {
    natsUrl: Option.getOrElse(config.natsUrl, () => "nats://127.0.0.1:4222"),
    dataDir: dataDirOf(config),
    natsAuth: yield* natsAuthConfig,
    ...Option.match(config.databaseUrl, { onNone: () => ({}), onSome: (databaseUrl) => ({ databaseUrl }) }),
    ...Option.match(config.kraneUrl, { onNone: () => ({}), onSome: (kraneUrl) => ({ kraneUrl }) }),
    ...Option.match(config.kraneToken, { onNone: () => ({}), onSome: (kraneToken) => ({ kraneToken }) }),
    database: { statementTimeout: config.statementTimeout, connectTimeout: config.connectTimeout },
    api: { port: config.apiPort, host: config.apiHost },
    gateway: { port: config.gatewayPort, host: config.gatewayHost },
    orchestrator: yield* orchestratorSettings,
    rebuildReadModel: process.argv.includes("--rebuild-read-model")
  }
  const { url, partitions } = yield* startRole(role, endpoints)
  yield* Effect.logInfo(`${role} ready`)
  yield* tellSupervisor({ type: "ready", role, ...(url === undefined ? {} : { url }), ...(partitions === undefined ? {} : { partitions }) })
  return yield* Effect.never
})

// The supervisor gone (killed, even with SIGKILL) means nobody restarts or stops us: stop cleanly.
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"))

program.pipe(
  Effect.scoped,
  Effect.catchIf(ConfigError.isConfigError, (error) =>
    Console.error(`configuration error: ${String(error)}`).pipe(Effect.andThen(Effect.sync(() => process.exit(configurationExitCode))))
  ),
  // Credentials NATS refuses do not get better by restarting: not retried, like a configuration error.
  Effect.catchIf(
    (error) => refusedCredentials(error) !== undefined,
    (error) =>
      Console.error(
        `configuration error: NATS refused this role's credentials (${refusedCredentials(error)}); check NATS_CREDS, NATS_USER/NATS_PASSWORD, NATS_TOKEN or BERTH_NATS_USERS_DIR`
      ).pipe(Effect.andThen(Effect.sync(() => process.exit(configurationExitCode))))
  ),
  NodeRuntime.runMain
)
