/**
 * Composition root: `npm start` / `berth up [--roles a,b]`. Starts (or connects to) what the chosen
 * roles need (NATS with JetStream, PostgreSQL for the projector and the API, a Krane for the
 * orchestrator), then runs each role as its own supervised process (src/roles/): a role that crashes
 * is restarted and takes no other role with it. Reads like a table of contents of the system;
 * everything it starts stops on Ctrl-C.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { Config, ConfigError, Console, Duration, Effect, Either, Option, Redacted, Schedule, type Scope } from "effect"
import { kraneLocalSecret, kraneLocalSecretFile } from "./adapters/krane/local/KraneLocalSecret.js"
import { resolveActorKey } from "./auth/actor.js"
import { resolveAdminToken } from "./auth/settings.js"
import { orchestratorSettings } from "./config.js"
import { choosePort } from "./local/binaries.js"
import { kraneLocalEnv } from "./local/kraneLocalEnv.js"
import { connectionAuth, type NatsClientAuth, natsAuthConfig, natsAuthEnv } from "./nats/natsAuth.js"
import { describeReplication, probeReplication, replicasSetting } from "./nats/replicas.js"
import { natsServers } from "./nats/servers.js"
import { startNatsCluster } from "./local/NatsCluster.js"
import { mappingConfig } from "./partitions/partitioning.js"
import { startNatsServer } from "./local/NatsServer.js"
import { passwordFile, prepareNatsUsers, usersDirClients } from "./local/natsUsers.js"
import { startPostgresServer } from "./local/PostgresServer.js"
import { redactUrl } from "./shared/redactUrl.js"
import { clusterDataDir, clusterFromArgs, instanceNames } from "./roles/cluster.js"
import { type BerthRole, needsDatabase, needsKrane, parseRoles } from "./roles/roles.js"
import { type SupervisedChild, type SupervisionGroup, supervise, supervisionGroup } from "./roles/Supervisor.js"
import { localPorts, runtimeConfig } from "./runtimeConfig.js"
import { loadSecrets, secretsSettings } from "./secrets/Secrets.js"

const projectRoot = fileURLToPath(new URL("..", import.meta.url))
const roleScript = ["--import", "tsx", join(projectRoot, "src/roles/process.ts")]
const kraneLocalScript = ["--import", "tsx", join(projectRoot, "src/adapters/krane/local/main.ts")]
/** How long `npm start` waits for every role before printing the banner anyway. */
const readyTimeout = Duration.seconds(60)

/** The NATS settings a role process is started with. */
const natsAuthVariables = ["NATS_CREDS", "NATS_USER", "NATS_PASSWORD", "NATS_TOKEN", "NATS_INBOX_PREFIX"] as const

type RoleClients = Readonly<Record<BerthRole, NatsClientAuth>>

/** The nats-servers Berth runs itself, for the banner: none for an external NATS. */
type OwnNodes = ReadonlyArray<{ readonly name: string; readonly pid: number; readonly port: number }>

/**
 * An external server when NATS_URL is given: every role connects with the NATS_* credentials given,
 * or, with BERTH_NATS_USERS_DIR, each with its own (`<role>.password` / `<role>.creds` there). Else
 * one of ours under the data dir, with one NATS user per role (src/local/natsUsers.ts): one server, or
 * with --cluster N a cluster of N (src/local/NatsCluster.ts) with the same users.
 */
const natsFor = (
  given: Option.Option<string>,
  usersDir: Option.Option<string>,
  roles: ReadonlyArray<BerthRole>,
  dataDir: string,
  cluster: Option.Option<{ readonly size: number; readonly partitions: number }>
): Effect.Effect<{ readonly url: string; readonly users: Option.Option<RoleClients>; readonly nodes: OwnNodes }, unknown, Scope.Scope> =>
  Option.match(given, {
    onSome: (url) =>
      Option.match(usersDir, {
        onNone: () => Effect.succeed({ url, users: Option.none<RoleClients>(), nodes: [] }),
        onSome: (dir) => Effect.map(usersDirClients(resolve(dir), roles), (clients) => ({ url, users: Option.some(clients), nodes: [] }))
      }),
    onNone: () =>
      Effect.gen(function* () {
        const natsDir = join(dataDir, "nats")
        const users = yield* prepareNatsUsers(natsDir, join(projectRoot, "nats.conf"))
        if (Option.isSome(cluster)) {
          const started = yield* startNatsCluster(
            {
              dir: natsDir,
              size: cluster.value.size,
              baseConfig: users.configPath,
              clientPort: localPorts.nats,
              routePort: localPorts.natsRoutes,
              // Several orchestrators share the projects by partition (src/partitions/): the nodes map commands.
              extraConfig: mappingConfig(cluster.value.partitions)
            },
            users.clients.orchestrator
          )
          return { url: started.url, users: Option.some<RoleClients>(users.clients), nodes: started.nodes }
        }
        const server = yield* startNatsServer({
          dataDir: natsDir,
          port: localPorts.nats,
          configPath: users.configPath,
          client: users.clients.orchestrator
        })
        return { url: server.url, users: Option.some<RoleClients>(users.clients), nodes: [] }
      })
  })

/** A role's NATS credentials: its own user when Berth knows one (nothing inherited), else what was given. */
const natsEnvOf = (role: BerthRole, users: Option.Option<Readonly<Record<BerthRole, NatsClientAuth>>>): NodeJS.ProcessEnv =>
  Option.match(users, {
    onNone: () => ({}),
    onSome: (clients) => ({
      ...Object.fromEntries(natsAuthVariables.map((name) => [name, undefined])),
      ...natsAuthEnv(clients[role])
    })
  })

const databaseUrlFor = (given: Option.Option<string>, dataDir: string) =>
  Option.match(given, {
    onSome: Effect.succeed,
    onNone: () =>
      startPostgresServer({ dataDir: join(dataDir, "postgres"), port: localPorts.postgres }).pipe(Effect.map((server) => server.url))
  })

interface KraneEndpoint {
  readonly url: string
  /** The secret our krane-local requires, which the roles send as KRANE_TOKEN; none for an external Krane (KRANE_TOKEN as given) or KRANE_LOCAL_INSECURE. */
  readonly token: Option.Option<Redacted.Redacted<string>>
  /** Where the secret comes from (KRANE_LOCAL_SECRET or the generated file), for the banner. */
  readonly secretSource: Option.Option<string>
  readonly child: Option.Option<SupervisedChild>
}

/**
 * krane-local is a role of the local setup: supervised like the others, ready when it prints its URL.
 * Not waited for here: the orchestrator's Krane calls retry until it answers, so both start together.
 * It demands a secret (KRANE_LOCAL_SECRET, else one generated under the data dir) that the roles send.
 */
const kraneFor = (given: Option.Option<string>, dataDir: string, preferredPort: number, group: SupervisionGroup) =>
  Option.match(given, {
    onSome: (url): Effect.Effect<KraneEndpoint> =>
      Effect.succeed({ url, token: Option.none(), secretSource: Option.none(), child: Option.none() }),
    onNone: () =>
      Effect.gen(function* () {
        const secret = Option.fromNullable(yield* kraneLocalSecret(kraneLocalSecretFile(dataDir)))
        const port = yield* choosePort(preferredPort, "krane-local")
        const child = yield* supervise({
          name: "krane-local",
          args: kraneLocalScript,
          env: {
            ...kraneLocalEnv(process.env),
            KRANE_LOCAL_PORT: String(port),
            KRANE_LOCAL_DATA: join(dataDir, "krane-local"),
            ...Option.match(secret, { onNone: () => ({}), onSome: ({ value }) => ({ KRANE_LOCAL_SECRET: Redacted.value(value) }) })
          },
          cwd: projectRoot,
          readyLine: /krane-local listening on/
        }, group)
        return {
          url: `http://127.0.0.1:${port}`,
          token: Option.map(secret, ({ value }) => value),
          secretSource: Option.map(secret, ({ source }) => source),
          child: Option.some(child)
        } satisfies KraneEndpoint
      })
  })

/** `--roles a,b` on the command line wins over BERTH_ROLES. */
const rolesFromArgs = (argv: ReadonlyArray<string>): Option.Option<string> => {
  const at = argv.findIndex((arg) => arg === "--roles" || arg.startsWith("--roles="))
  if (at < 0) return Option.none()
  const arg = argv[at] ?? ""
  return Option.some(arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[at + 1] ?? "")
}

interface Urls {
  readonly api?: string
  readonly gateway?: string
  readonly nats: string
  /** How many replicas the streams get (src/nats/replicas.ts), as one line. */
  readonly replication: string
  /** The nodes of the NATS cluster Berth runs (--cluster), with their pids. */
  readonly natsNodes: OwnNodes
  /** BERTH_DATA_DIR for the CLI, when it is not the default one. */
  readonly cliDataDir?: string
  /** The publisher's password file, when Berth runs its own nats-server with users. */
  readonly natsUsers?: string
  readonly database?: string
  readonly krane?: string
  /** What the Krane line says about its authentication. */
  readonly kraneAuth?: string
  readonly runFile: string
  /** Where the admin token comes from: BERTH_ADMIN_TOKEN or the data dir's file. */
  readonly adminToken?: string
  /** The orchestrator's account of partitioning (src/partitions/). */
  readonly partitions?: string
}

const banner = (roles: ReadonlyArray<BerthRole>, urls: Urls, children: ReadonlyArray<SupervisedChild>) => {
  const gatewayHost = urls.gateway?.replace("127.0.0.1", "hello-acme.berth.localhost")
  const lines = [
    "",
    "Berth is running.",
    ...(urls.api === undefined ? [] : [`  status API   ${urls.api}   (OpenAPI: ${urls.api}/openapi.json, docs: ${urls.api}/docs, health: ${urls.api}/readyz)`]),
    ...(urls.adminToken === undefined
      ? []
      : [`  admin token  ${urls.adminToken}   (the CLI reads it; API clients send Authorization: Bearer <token>)`]),
    ...(urls.gateway === undefined ? [] : [`  gateway      ${urls.gateway}   (routes by Host: curl ${gatewayHost}/)`]),
    `  NATS         ${urls.nats}   (commands: berth.cmd.<projectId>, events: berth.evt.<projectId>)`,
    `  replication  ${urls.replication}`,
    ...(urls.natsNodes.length === 0
      ? []
      : [`  NATS nodes   ${urls.natsNodes.map((node) => `${node.name} (pid ${node.pid}, port ${node.port})`).join(", ")}   (kill -9 one: the others carry on)`]),
    ...(urls.natsUsers === undefined ? [] : [`  NATS users   one per role; services that send commands: user publisher, password in ${urls.natsUsers}`]),
    ...(urls.partitions === undefined ? [] : [`  partitions   ${urls.partitions}`]),
    ...(urls.database === undefined ? [] : [`  PostgreSQL   ${urls.database}`]),
    ...(urls.krane === undefined ? [] : [`  Krane        ${urls.krane}${urls.kraneAuth === undefined ? "" : `   (${urls.kraneAuth})`}`]),
    `  roles        ${children.map((child) => `${child.name} (pid ${child.pid() ?? "-"})`).join(", ")}`,
    "",
    ...(roles.includes("api")
      ? [
          "Send a first command (in another terminal):",
          ...(urls.cliDataDir === undefined ? [] : [`  export BERTH_DATA_DIR=${urls.cliDataDir}   (the CLI finds this Berth there)`]),
          "  ./bin/berth project create proj_hello --workspace acme --apex berth.localhost",
          "  ./bin/berth deploy proj_hello --id dep_hello_1 --set APP_VERSION=v1 --wait -- node examples/hello/server.js",
          ...(gatewayHost === undefined ? [] : [`  curl -s ${gatewayHost}/`]),
          "(or publish raw JSON to NATS: npm run send -- examples/commands/create-project.json)",
          ""
        ]
      : []),
    `Ctrl-C stops everything Berth started. (Connection details: ${urls.runFile})`,
    ""
  ]
  return lines.join("\n")
}

const program = Effect.gen(function* () {
  const config = yield* runtimeConfig
  // Read once here so a bad setting stops Berth at once with one line, not each role in a restart loop.
  const { partitions } = yield* orchestratorSettings
  const replicas = yield* replicasSetting
  const roles = yield* Option.match(rolesFromArgs(process.argv), {
    onNone: () => Effect.succeed(config.roles),
    onSome: (text) => Either.match(parseRoles(text), { onLeft: (message) => Effect.fail(ConfigError.InvalidData(["--roles"], message)), onRight: Effect.succeed })
  })
  const cluster = yield* Either.match(clusterFromArgs(process.argv), {
    onLeft: (message) => Effect.fail(ConfigError.InvalidData(["--cluster"], message)),
    onRight: Effect.succeed
  })
  if (Option.isSome(cluster) && Option.isSome(config.natsUrl)) {
    return yield* Effect.fail(ConfigError.InvalidData(["--cluster"], "--cluster runs its own NATS cluster: do not also set NATS_URL (run `berth up --roles …` against yours instead)"))
  }
  // The cluster keeps its own data (its own event log, so its own read model) unless told otherwise.
  const givenDataDir = yield* Config.option(Config.string("BERTH_DATA_DIR"))
  const dataDir = resolve(projectRoot, Option.isSome(cluster) && Option.isNone(givenDataDir) ? clusterDataDir : config.dataDir)
  mkdirSync(dataDir, { recursive: true })
  // The keys that seal env values: BERTH_SECRETS_KEY checked now, or the local keys file created once
  // here, before the roles that read it (orchestrator, API) start side by side.
  yield* Effect.flatMap(secretsSettings, (settings) => loadSecrets({ ...settings, dataDir })).pipe(
    Effect.mapError((error) => (ConfigError.isConfigError(error) ? error : ConfigError.InvalidData(["BERTH_SECRETS_KEY"], error.message)))
  )
  // Made (or checked) here, before the API role starts, so the banner can say where it is.
  const adminToken = roles.includes("api") ? Option.some(yield* resolveAdminToken(dataDir)) : Option.none()
  // The actor key the API and the orchestrator share: created once here, not raced by the two roles.
  if (roles.includes("api") || roles.includes("orchestrator")) yield* resolveActorKey(dataDir)

  // Read here too so conflicting NATS credentials stop Berth at once, not each role in turn.
  const natsAuth = yield* natsAuthConfig
  const usersDir = yield* Config.option(Config.string("BERTH_NATS_USERS_DIR"))
  if (Option.isSome(usersDir) && natsAuth.auth._tag !== "None") {
    return yield* Effect.fail(ConfigError.InvalidData(["BERTH_NATS_USERS_DIR"], "BERTH_NATS_USERS_DIR gives each role its NATS credentials: do not also set NATS_CREDS, NATS_USER/NATS_PASSWORD or NATS_TOKEN"))
  }
  const nats = yield* natsFor(config.natsUrl, usersDir, roles, dataDir, Option.map(cluster, (size) => ({ size, partitions })))
  const natsUrl = nats.url
  // Detected the way the roles detect it (their own connections), with the first role's credentials.
  const probeClient = Option.match(nats.users, { onNone: () => natsAuth, onSome: (clients) => clients[roles[0] ?? "orchestrator"] })
  const replication = yield* connectionAuth(probeClient).pipe(
    Effect.flatMap((auth) => probeReplication(natsServers(natsUrl), auth, replicas)),
    Effect.orElseSucceed(() => undefined)
  )
  // A single server cannot hold more than one copy: streams asked for more would never be created.
  if (replication !== undefined && replication.cluster === undefined && replication.replicas > 1) {
    return yield* Effect.fail(
      ConfigError.InvalidData(["BERTH_REPLICAS"], `BERTH_REPLICAS is ${replication.replicas}, but ${natsUrl} is a single nats-server (no cluster), which keeps one copy: unset it or point NATS_URL at a cluster`)
    )
  }
  const group = yield* supervisionGroup
  const databaseUrl = needsDatabase(roles) ? Option.some(yield* databaseUrlFor(config.databaseUrl, dataDir)) : Option.none()
  const krane = needsKrane(roles) ? Option.some(yield* kraneFor(config.kraneUrl, dataDir, config.kraneLocalPort, group)) : Option.none()
  const apiPort = roles.includes("api") ? yield* choosePort(config.apiPort, "status API") : config.apiPort
  const gatewayPort = roles.includes("gateway") ? yield* choosePort(config.gatewayPort, "gateway") : config.gatewayPort

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NATS_URL: natsUrl,
    ...Option.match(databaseUrl, { onNone: () => ({}), onSome: (url) => ({ DATABASE_URL: url }) }),
    ...Option.match(krane, { onNone: () => ({}), onSome: ({ url }) => ({ KRANE_URL: url }) }),
    // Every role finds the same data dir (the secrets keys file) whatever its working directory.
    BERTH_DATA_DIR: dataDir,
    ...Option.match(Option.flatMap(krane, ({ token }) => token), {
      onNone: () => ({}),
      onSome: (token) => ({ KRANE_TOKEN: Redacted.value(token) })
    }),
    BERTH_API_PORT: String(apiPort),
    BERTH_GATEWAY_PORT: String(gatewayPort)
  }
  const rebuild = process.argv.includes("--rebuild-read-model")
  // With --cluster N, N orchestrators (orchestrator-1 … -N) share the work; one of every other role.
  const processes = roles.flatMap((role) =>
    instanceNames(role, role === "orchestrator" ? Option.getOrElse(cluster, () => 1) : 1).map((name) => ({ role, name }))
  )
  const children = yield* Effect.forEach(processes, ({ role, name }) =>
    supervise({
      name,
      args: [...roleScript, role],
      ...(role === "projector" && rebuild ? { firstStartArgs: ["--rebuild-read-model"] } : {}),
      env: { ...env, ...natsEnvOf(role, nats.users) },
      cwd: projectRoot
    }, group)
  )
  // Added after every child's finalizer, so it runs first: no child is restarted while Berth stops.
  yield* Effect.addFinalizer(() => group.stop)
  const allChildren = [...Option.match(krane, { onNone: () => [], onSome: ({ child }) => Option.toArray(child) }), ...children]
  const reports = yield* Effect.forEach(allChildren, (child) =>
    child.ready.pipe(
      Effect.timeout(readyTimeout),
      Effect.tapError(() => Effect.logWarning(`${child.name} is not ready after ${Duration.format(readyTimeout)}; it keeps being retried`)),
      Effect.catchTag("TimeoutException", () => Effect.succeed(undefined))
    )
  )
  const urlOf = (role: BerthRole) => reports.find((report) => report?.role === role)?.url

  const runFile = join(dataDir, "run.json")
  const api = roles.includes("api") ? urlOf("api") ?? `http://${config.apiHost}:${apiPort}` : undefined
  const gateway = roles.includes("gateway") ? urlOf("gateway") ?? `http://${config.gatewayHost}:${gatewayPort}` : undefined
  const runInfo = () => ({
    api,
    gateway,
    natsUrl,
    replicas: replication?.replicas ?? null,
    // Password shown as ***: run.json is for people and the CLI, which needs no PostgreSQL password.
    databaseUrl: Option.getOrUndefined(Option.map(databaseUrl, redactUrl)),
    kraneUrl: Option.getOrUndefined(Option.map(krane, ({ url }) => url)),
    supervisorPid: process.pid,
    roles: Object.fromEntries(allChildren.map((child) => [child.name, { pid: child.pid() ?? null, restarts: child.restarts() }]))
  })
  // Kept current (pids change on restart) for the CLI, operators and the fault tests.
  let written = ""
  const writeRunFile = Effect.sync(() => {
    const text = JSON.stringify(runInfo(), null, 2)
    if (text !== written) writeFileSync(runFile, (written = text))
  })
  // Registered before the refresher starts, so it runs after the refresher stops.
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(runFile, { force: true })))
  yield* writeRunFile
  yield* writeRunFile.pipe(
    Effect.repeat(Schedule.spaced(Duration.seconds(1))),
    Effect.forkScoped
  )
  yield* Console.log(
    banner(roles, {
      ...(api === undefined ? {} : { api }),
      ...(gateway === undefined ? {} : { gateway }),
      nats: natsUrl,
      natsNodes: nats.nodes,
      ...(Option.isSome(cluster) && dataDir !== resolve(projectRoot, ".berth") ? { cliDataDir: dataDir } : {}),
      replication: replication === undefined ? "unknown: NATS did not answer (the roles detect it when it does)" : describeReplication(replication),
      ...(Option.isNone(config.natsUrl) ? { natsUsers: passwordFile(join(dataDir, "nats"), "publisher") } : {}),
      ...Option.match(databaseUrl, { onNone: () => ({}), onSome: (database) => ({ database: redactUrl(database) }) }),
      ...Option.match(krane, {
        onNone: () => ({}),
        onSome: ({ url, secretSource, child }) => ({
          krane: url,
          ...(Option.isNone(child)
            ? {}
            : { kraneAuth: Option.match(secretSource, { onNone: () => "NO authentication: KRANE_LOCAL_INSECURE=1", onSome: (source) => `bearer token from ${source}` }) })
        })
      }),
      ...Option.match(adminToken, { onNone: () => ({}), onSome: ({ source }) => ({ adminToken: source }) }),
      ...Option.match(Option.fromNullable(reports.find((report) => report?.role === "orchestrator")?.partitions), {
        onNone: () => ({}),
        onSome: (partitions) => ({ partitions })
      }),
      runFile
    }, allChildren)
  )
  return yield* Effect.never
})

/** Configuration mistakes are one clear line, not a stack trace. */
const explainConfigErrors = Effect.catchIf(ConfigError.isConfigError, (error) =>
  Console.error(`Berth cannot start: configuration error: ${String(error)}`).pipe(
    Effect.andThen(Effect.sync(() => void (process.exitCode = 2)))
  )
)

program.pipe(Effect.scoped, explainConfigErrors, NodeRuntime.runMain)
