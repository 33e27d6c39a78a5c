/**
 * A NATS cluster on this machine (`npm run cluster`, and the cluster tests): `size` nats-servers with
 * JetStream, each with its own store dir (`<dir>/node-<n>`), its own client port and route port on
 * 127.0.0.1, routes to every other node, and the same users and permissions as Berth's single server
 * (the generated config of src/local/natsUsers.ts, followed by a `cluster` block). Routes authenticate
 * with a generated password (`<dir>/route.password`, 0600): nothing else can join the cluster.
 *
 * The nodes start together: a JetStream cluster answers only once a majority is up and has elected its
 * meta leader, so a node started alone would never become ready.
 */
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs"
import { join, resolve } from "node:path"
import { Data, Effect, type Scope } from "effect"
import type { NatsClientAuth } from "../nats/natsAuth.js"
import { type BinaryNotFound, choosePort } from "./binaries.js"
import { type NatsServerError, type NatsServerInfo, startNatsServer } from "./NatsServer.js"
import { readOrCreateSecretFile, type SecretFileError } from "./secretFile.js"

export class NatsClusterError extends Data.TaggedError("NatsClusterError")<{ readonly message: string }> {}

/** One node of the cluster: where its store and config are, which ports it listens on. */
export interface ClusterNode {
  /** Its server_name (`<cluster>-<n>`), as stream info's `cluster.leader` names it. */
  readonly name: string
  readonly dataDir: string
  readonly port: number
  readonly routePort: number
  readonly configPath: string
}

export interface NatsClusterOptions {
  /** Each node's store goes under `<dir>/node-<n>`; the route password is `<dir>/route.password`. */
  readonly dir: string
  readonly size: number
  /** The server config every node starts from (the users: src/local/natsUsers.ts). */
  readonly baseConfig: string
  /** Preferred first client and route ports; the next ones go to the next nodes (free ones if taken). */
  readonly clientPort?: number
  readonly routePort?: number
  /** The cluster's name (default `berth`). */
  readonly name?: string
  /** More server config every node gets (the partition mapping of `npm run cluster`). */
  readonly extraConfig?: string
}

export const routeUser = "route"

/** The lines a node's config adds to the base: its name and its cluster block. Pure. */
export const clusterBlock = (cluster: string, node: Pick<ClusterNode, "name" | "routePort">, routePorts: ReadonlyArray<number>, routePassword: string): string => {
  const routes = routePorts
    .filter((port) => port !== node.routePort)
    .map((port) => JSON.stringify(`nats-route://${routeUser}:${encodeURIComponent(routePassword)}@127.0.0.1:${port}`))
  return [
    `server_name: ${JSON.stringify(node.name)}`,
    "cluster {",
    `  name: ${JSON.stringify(cluster)}`,
    `  listen: "127.0.0.1:${node.routePort}"`,
    `  authorization { user: ${JSON.stringify(routeUser)}, password: ${JSON.stringify(routePassword)} }`,
    `  routes: [${routes.join(", ")}]`,
    "}",
    ""
  ].join("\n")
}

/** `count` distinct ports, the preferred ones (base, base+1, …) where free. */
const distinctPorts = (count: number, base: number | undefined, what: string, taken: ReadonlySet<number>) =>
  Effect.gen(function* () {
    const ports: Array<number> = []
    for (let i = 0; i < count; i++) {
      let port = yield* choosePort(base === undefined ? undefined : base + i, `${what} ${i + 1}`)
      while (ports.includes(port) || taken.has(port)) port = yield* choosePort(undefined, `${what} ${i + 1}`)
      ports.push(port)
    }
    return ports
  })

/** Chooses the ports and writes each node's config (0600): the cluster, ready to start. */
export const planNatsCluster = (opts: NatsClusterOptions): Effect.Effect<ReadonlyArray<ClusterNode>, SecretFileError | NatsClusterError> =>
  Effect.gen(function* () {
    const dir = resolve(opts.dir)
    const cluster = opts.name ?? "berth"
    const password = yield* readOrCreateSecretFile(join(dir, "route.password"))
    const clientPorts = yield* distinctPorts(opts.size, opts.clientPort, "nats-server", new Set())
    const routePorts = yield* distinctPorts(opts.size, opts.routePort, "nats-server route", new Set(clientPorts))
    const nodes = clientPorts.map((port, i): ClusterNode => {
      const dataDir = join(dir, `node-${i + 1}`)
      return { name: `${cluster}-${i + 1}`, dataDir, port, routePort: routePorts[i] ?? 0, configPath: join(dataDir, "nats-server.conf") }
    })
    yield* Effect.try({
      try: () => {
        const base = readFileSync(opts.baseConfig, "utf8")
        for (const node of nodes) {
          mkdirSync(node.dataDir, { recursive: true, mode: 0o700 })
          const text = `${base}\n${opts.extraConfig ?? ""}\n# Cluster node ${node.name} (src/local/NatsCluster.ts).\n${clusterBlock(cluster, node, routePorts, password)}`
          writeFileSync(node.configPath, text, { mode: 0o600 })
          chmodSync(node.configPath, 0o600)
        }
      },
      catch: (error) => new NatsClusterError({ message: `cannot write the cluster's configs under ${dir}: ${error instanceof Error ? error.message : String(error)}` })
    })
    return nodes
  })

/** One node for the life of the scope, on its planned port (a cluster's routes name them). */
export const startNatsNode = (
  node: ClusterNode,
  client: NatsClientAuth
): Effect.Effect<NatsServerInfo, NatsServerError | BinaryNotFound, Scope.Scope> =>
  startNatsServer({ dataDir: node.dataDir, port: node.port, configPath: node.configPath, client, startTimeout: "60 seconds" })

export interface NatsClusterInfo {
  readonly nodes: ReadonlyArray<ClusterNode & { readonly pid: number; readonly logFile: string }>
  /** Every node's client URL, comma-separated: a NATS_URL. */
  readonly url: string
}

/** Plans and starts the whole cluster for the life of the scope; ready once JetStream answers on every node. */
export const startNatsCluster = (
  opts: NatsClusterOptions,
  client: NatsClientAuth
): Effect.Effect<NatsClusterInfo, NatsServerError | BinaryNotFound | SecretFileError | NatsClusterError, Scope.Scope> =>
  Effect.gen(function* () {
    const nodes = yield* planNatsCluster(opts)
    const started = yield* Effect.forEach(nodes, (node) => startNatsNode(node, client), { concurrency: "unbounded" })
    const running = nodes.map((node, i) => ({ ...node, port: started[i]?.port ?? node.port, pid: started[i]?.pid ?? -1, logFile: started[i]?.logFile ?? "" }))
    const moved = running.filter((node, i) => node.port !== nodes[i]?.port)
    if (moved.length > 0) {
      return yield* new NatsClusterError({ message: `nats-server ${moved.map((node) => node.name).join(", ")} could not listen on its planned port` })
    }
    return { nodes: running, url: running.map((node) => `nats://127.0.0.1:${node.port}`).join(",") }
  })
