/**
 * A throwaway three-node NATS cluster for tests: real nats-servers (src/local/NatsCluster.ts: JetStream,
 * routes with a route password) on free ports with their stores in a temp dir, anonymous clients (the
 * project's nats.conf, as most tests use) or Berth's users. Each node runs in a scope of its own, so a
 * test can kill one (SIGKILL: a crashed machine), stop it (SIGTERM) and start it again on the same store
 * and ports, while the others carry on.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Logger, LogLevel, Scope } from "effect"
import { type ClusterNode, planNatsCluster, startNatsNode } from "../../src/local/NatsCluster.js"
import type { NatsServerInfo } from "../../src/local/NatsServer.js"
import { prepareNatsUsers } from "../../src/local/natsUsers.js"
import { anonymous, type NatsClientAuth } from "../../src/nats/natsAuth.js"
import type { NatsUser } from "../../src/nats/permissions.js"
import { mappingConfig } from "../../src/partitions/partitioning.js"
import { isAlive } from "./processes.js"
import { projectNatsConf } from "./servers.js"

export interface TestClusterNode {
  readonly name: string
  readonly url: string
  /** The running process, undefined while the node is down. */
  readonly pid: () => number | undefined
  readonly up: () => boolean
}

export interface TestNatsCluster {
  /** Every node's URL, comma-separated: a NATS_URL. */
  readonly url: string
  readonly nodes: ReadonlyArray<TestClusterNode>
  /** Each of Berth's NATS users (with `users: true`). */
  readonly clients: Readonly<Record<NatsUser, NatsClientAuth>> | undefined
  readonly node: (name: string) => TestClusterNode
  /** kill -9 of one node; the others carry on. */
  readonly kill: (name: string) => Promise<void>
  /** SIGTERM (a clean shutdown) of one node. */
  readonly stop: (name: string) => Promise<void>
  /** Starts a killed or stopped node again on its store and ports. */
  readonly restart: (name: string) => Promise<void>
  /** The node that leads `stream` now (its stream info's `cluster.leader`). */
  readonly leaderOf: (stream: string) => Promise<string>
  readonly close: () => Promise<void>
}

const quietly = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>, scope: Scope.Scope) =>
  Effect.runPromise(Scope.extend(effect, scope).pipe(Logger.withMinimumLogLevel(LogLevel.Error)))

const closeQuietly = (scope: Scope.CloseableScope) =>
  Effect.runPromise(Scope.close(scope, Exit.void).pipe(Logger.withMinimumLogLevel(LogLevel.None)))

const waitUntilGone = async (pid: number): Promise<void> => {
  const deadline = Date.now() + 10_000
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`nats-server (pid ${pid}) did not exit`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

class Node implements TestClusterNode {
  private scope: Scope.CloseableScope | undefined
  private info: NatsServerInfo | undefined

  constructor(
    readonly spec: ClusterNode,
    private readonly client: NatsClientAuth
  ) {}

  get name(): string {
    return this.spec.name
  }

  get url(): string {
    return `nats://127.0.0.1:${this.spec.port}`
  }

  pid = (): number | undefined => this.info?.pid

  up = (): boolean => this.info !== undefined && isAlive(this.info.pid)

  async start(): Promise<void> {
    const scope = Effect.runSync(Scope.make())
    try {
      const info = await quietly(startNatsNode(this.spec, this.client), scope)
      if (info.port !== this.spec.port) throw new Error(`${this.name} came back on port ${info.port}, not ${this.spec.port}`)
      this.scope = scope
      this.info = info
    } catch (error) {
      await closeQuietly(scope)
      throw error
    }
  }

  /** Ends the process with `signal` and forgets it (its scope's release then only tidies up). */
  async halt(signal: NodeJS.Signals): Promise<void> {
    const pid = this.info?.pid
    if (pid !== undefined && isAlive(pid)) {
      process.kill(pid, signal)
      await waitUntilGone(pid)
    }
    this.info = undefined
    const scope = this.scope
    this.scope = undefined
    if (scope !== undefined) await closeQuietly(scope)
  }
}

/** Starts three nodes (together: JetStream needs a majority up to answer) and waits until each answers. */
export const startTestNatsCluster = async (
  opts: {
    readonly users?: boolean
    /** Every node maps berth.cmd.* into this many partitions (src/partitions/); none by default. */
    readonly partitions?: number
  } = {}
): Promise<TestNatsCluster> => {
  const root = mkdtempSync(join(tmpdir(), "berth-test-cluster-"))
  chmodSync(root, 0o755)
  const nodes: Array<Node> = []
  const close = async () => {
    await Promise.all(nodes.map((node) => node.halt("SIGTERM").catch(() => undefined)))
    rmSync(root, { recursive: true, force: true })
  }
  try {
    const users = opts.users === true ? await Effect.runPromise(prepareNatsUsers(join(root, "users"), projectNatsConf)) : undefined
    const specs = await Effect.runPromise(
      planNatsCluster({
        dir: root,
        size: 3,
        baseConfig: users?.configPath ?? projectNatsConf,
        ...(opts.partitions === undefined ? {} : { extraConfig: mappingConfig(opts.partitions) })
      })
    )
    const client = users?.clients.orchestrator ?? anonymous
    nodes.push(...specs.map((spec) => new Node(spec, client)))
    await Promise.all(nodes.map((node) => node.start()))
    const url = nodes.map((node) => node.url).join(",")
    const find = (name: string): Node => {
      const node = nodes.find((n) => n.name === name)
      if (node === undefined) throw new Error(`no node ${name} (nodes: ${nodes.map((n) => n.name).join(", ")})`)
      return node
    }
    return {
      url,
      nodes,
      clients: users?.clients,
      node: find,
      kill: (name) => find(name).halt("SIGKILL"),
      stop: (name) => find(name).halt("SIGTERM"),
      restart: async (name) => {
        const node = find(name)
        await node.halt("SIGKILL")
        await node.start()
      },
      leaderOf: async (stream) => {
        const live = nodes.filter((node) => node.up()).map((node) => node.url)
        const nc = await connect({ servers: live, ...(users === undefined ? {} : { user: "admin", pass: passwordOf(users.clients.admin) }) })
        try {
          const info = await (await jetstreamManager(nc)).streams.info(stream)
          const leader = info.cluster?.leader
          if (leader === undefined || leader === "") throw new Error(`${stream} has no leader now`)
          return leader
        } finally {
          await nc.close()
        }
      },
      close
    }
  } catch (error) {
    await close()
    throw error
  }
}

const passwordOf = (client: NatsClientAuth): string => (client.auth._tag === "UserPassword" ? client.auth.password : "")
