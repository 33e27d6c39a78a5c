/**
 * Fail-over between real orchestrator processes on a nats-server with the partition mapping, an HTTP
 * Krane whose instances take a moment to run (so deployments are in flight when a process dies), and a
 * projector keeping a read model. Two orchestrators split the partitions; then one is killed with
 * SIGKILL mid-storm, or frozen with SIGSTOP past its lease and resumed. Each run checks what a user
 * would notice: the partitions taken over within the lease TTL, every deployment ready, commands sent
 * during the gap decided, no command decided twice, no step's event written twice, and the read model
 * equal to a fresh replay of the log.
 */
import { Kvm } from "@nats-io/kv"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureStreams, Nats } from "../../src/nats/Nats.js"
import { buckets, subjects } from "../../src/nats/subjects.js"
import { Database } from "../../src/projections/Database.js"
import { Projector } from "../../src/projections/Projector.js"
import { partitionOf } from "../../src/partitions/partitioning.js"
import { checkDecidedOnce, checkNoDuplicateSteps, checkReadModel, checkTerminal } from "../chaos/invariants.js"
import { foldAll, readLog } from "../chaos/log.js"
import { startFakeKraneHttpServer, type FakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"
import { createProjectCommand, deployCommand } from "../support/orchestrator.js"
import { startOrchestratorProcess, type OrchestratorProcess } from "../support/orchestratorProcess.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"

const partitions = 16
const leaseTtlMs = 3_000

let nats: TestNats
let krane: FakeKraneHttpServer
let nc: NatsConnection
let pgAdminUrl: string
let databaseUrl: string
let projector: ManagedRuntime.ManagedRuntime<Projector, unknown>

beforeAll(async () => {
  nats = await startTestNats({ partitions })
  krane = await startFakeKraneHttpServer()
  // Instances run after ~10 polls (0.5 s at 50 ms): deployments are in flight when a process dies.
  krane.krane.setReadyAfterPolls(10)
  // Nothing listens there: the OpenAPI scrape is refused at once (the deployment is ready without a spec).
  krane.krane.setInstanceAddress(() => "127.0.0.1:9")
  nc = await connect({ servers: nats.url })
  await Effect.runPromise(ensureStreams(await jetstreamManager(nc)))
  databaseUrl = await freshDatabase("failover")
  const { inject } = await import("vitest")
  pgAdminUrl = inject("pgAdminUrl")
  projector = ManagedRuntime.make(
    Projector.layer().pipe(
      Layer.provideMerge(Layer.merge(Nats.layer(nats.url), Database.layer(databaseUrl))),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
    )
  )
  await projector.runtime()
})

afterAll(async () => {
  await projector?.dispose()
  await nc?.close()
  await krane?.close()
  await nats?.stop()
})

const orchestratorEnv = () => ({
  NATS_URL: nats.url,
  KRANE_URL: krane.url,
  BERTH_PARTITIONS: String(partitions),
  BERTH_LEASE_TTL: `${leaseTtlMs} millis`,
  BERTH_POLL_INTERVAL: "50 millis",
  BERTH_STEP_BACKOFF: "50 millis",
  BERTH_INTAKE_BACKOFF: "200 millis, 500 millis, 1 second",
  BERTH_SCRAPE_TIMEOUT: "1 second",
  BERTH_STEP_ATTEMPTS_SCRAPE_OPENAPI: "1"
})

/** partition -> the pid of the orchestrator holding its lease (from KV berth_partitions). */
const leaseOwners = async (): Promise<ReadonlyMap<number, number>> => {
  const kv = await new Kvm(nc).open(buckets.partitions)
  const owners = new Map<number, number>()
  for (let p = 0; p < partitions; p++) {
    const entry = await kv.get(`partitions.${p}`)
    if (entry === null || entry.operation !== "PUT") continue
    const owner = entry.json<{ owner: string }>().owner
    const pid = /-(\d+)-[0-9a-f]+$/.exec(owner)?.[1]
    if (pid !== undefined) owners.set(p, Number(pid))
  }
  return owners
}

const waitFor = async <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs: number): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const split = (a: OrchestratorProcess, b: OrchestratorProcess) =>
  waitFor(
    "the two orchestrators to split the partitions",
    async () => {
      const owners = [...(await leaseOwners()).values()]
      const ofA = owners.filter((pid) => pid === a.pid).length
      const ofB = owners.filter((pid) => pid === b.pid).length
      return ofA === partitions / 2 && ofB === partitions / 2 ? true : undefined
    },
    30_000
  )

const allHeldBy = (survivor: OrchestratorProcess) =>
  waitFor(
    "the survivor to hold every partition",
    async () => {
      const owners = await leaseOwners()
      return owners.size === partitions && [...owners.values()].every((pid) => pid === survivor.pid) ? performance.now() : undefined
    },
    30_000
  )

interface Storm {
  /** commandId -> projectId of every command published. */
  readonly published: Map<string, string>
  readonly publish: (projectId: string, command: { readonly commandId: string }) => Promise<void>
}

const storm = (): Storm => {
  const js = jetstream(nc)
  const published = new Map<string, string>()
  return {
    published,
    publish: async (projectId, command) => {
      published.set(command.commandId, projectId)
      await js.publish(subjects.command(projectId), JSON.stringify(command))
    }
  }
}

/** Every deployment of `projects` ready, as the log says; when they all are. */
const allReady = (projects: ReadonlyArray<string>, deployments: number) =>
  waitFor(
    `${deployments} deployments ready`,
    async () => {
      const log = await readLog(jetstream(nc), await jetstreamManager(nc))
      const states = foldAll(log)
      let ready = 0
      for (const projectId of projects) {
        for (const deployment of Object.values(states.get(projectId)?.deployments ?? {})) if (deployment.status === "ready") ready++
      }
      return ready === deployments ? performance.now() : undefined
    },
    60_000
  )

/** The log's invariants and the read model against a replay. */
const checkAll = async (published: ReadonlyMap<string, string>) => {
  const log = await readLog(jetstream(nc), await jetstreamManager(nc))
  const states = foldAll(log)
  await projector.runPromise(Effect.flatMap(Projector, (p) => p.waitFor(log.lastSeq)).pipe(Effect.timeout(Duration.seconds(30))))
  const verdicts = [
    checkTerminal(log, states),
    checkDecidedOnce(log, published),
    checkNoDuplicateSteps(log),
    await checkReadModel({ natsUrl: nats.url, pgAdminUrl, databaseUrl, lastSeq: log.lastSeq })
  ]
  for (const verdict of verdicts) expect(verdict.ok ? "" : `${verdict.name}: ${verdict.diff}`).toBe("")
}

/** Projects whose partition `holder` held when the storm started (the ones a fail-over must move). */
const projectsOf = async (holder: OrchestratorProcess, projects: ReadonlyArray<string>) => {
  const owners = await leaseOwners()
  return projects.filter((projectId) => owners.get(partitionOf(projectId, partitions)) === holder.pid)
}

describe("fail-over between orchestrators", () => {
  it("kill -9 of one mid-storm: its partitions are taken over within the lease TTL and every deployment finishes", async () => {
    const a = await startOrchestratorProcess(orchestratorEnv())
    const b = await startOrchestratorProcess(orchestratorEnv())
    try {
      await split(a, b)
      const projects = Array.from({ length: 40 }, (_, i) => `proj_kill_${i}`)
      const { published, publish } = storm()
      await Promise.all(projects.map((projectId) => publish(projectId, createProjectCommand(projectId))))
      await Promise.all(projects.map((projectId) => publish(projectId, deployCommand(projectId, `dep_${projectId}_1`))))
      const moving = await projectsOf(a, projects)
      expect(moving.length).toBeGreaterThan(5)
      const stormAt = performance.now()
      // Mid-storm: deployments are waiting for their instances.
      await new Promise((resolve) => setTimeout(resolve, 300))
      const killed = performance.now()
      a.signal("SIGKILL")
      // Sent during the gap: decided once the partitions have their new owner.
      await Promise.all(projects.map((projectId) => publish(projectId, deployCommand(projectId, `dep_${projectId}_2`))))
      const taken = await allHeldBy(b)
      const finished = await allReady(projects, projects.length * 2)
      const takenMs = Math.round(taken - killed)
      const finishedMs = Math.round(finished - killed)
      console.log(
        `kill -9 ${Math.round(killed - stormAt)} ms into the storm: partitions taken over ${takenMs} ms after the kill (lease TTL ${leaseTtlMs} ms); ` +
          `all ${projects.length * 2} deployments ready ${finishedMs} ms after it (${moving.length} of ${projects.length} projects moved)`
      )
      expect(takenMs).toBeLessThan(leaseTtlMs + 1_500)
      expect(finishedMs).toBeLessThan(30_000)
      await checkAll(published)
    } finally {
      await a.stop("SIGKILL")
      await b.stop()
    }
  })

  it("a frozen orchestrator's projects are finished by the other; resumed, it stops deciding, rejoins, and nothing is decided twice", async () => {
    const a = await startOrchestratorProcess(orchestratorEnv())
    const b = await startOrchestratorProcess(orchestratorEnv())
    try {
      await split(a, b)
      const projects = Array.from({ length: 30 }, (_, i) => `proj_frozen_${i}`)
      const { published, publish } = storm()
      await Promise.all(projects.map((projectId) => publish(projectId, createProjectCommand(projectId))))
      await Promise.all(projects.map((projectId) => publish(projectId, deployCommand(projectId, `dep_${projectId}_1`))))
      expect((await projectsOf(a, projects)).length).toBeGreaterThan(5)
      await new Promise((resolve) => setTimeout(resolve, 300))
      const frozenAt = a.output().length
      a.signal("SIGSTOP")
      await Promise.all(projects.map((projectId) => publish(projectId, deployCommand(projectId, `dep_${projectId}_2`))))
      const frozen = performance.now()
      const taken = await allHeldBy(b)
      // Finished by b while a is still frozen.
      const finished = await allReady(projects, projects.length * 2)
      console.log(
        `SIGSTOP: partitions taken over ${Math.round(taken - frozen)} ms after the freeze; all ${projects.length * 2} deployments ready ${Math.round(finished - frozen)} ms after it, the frozen one still stopped`
      )
      a.signal("SIGCONT")
      // a finds its leases gone before deciding anything, then takes its share back from b.
      await a.waitForOutput(/partition lease\(s\) lost/, 20_000, frozenAt)
      await split(a, b)
      const afterFreeze = a.output().slice(frozenAt)
      const count = (pattern: RegExp) => afterFreeze.split("\n").filter((line) => pattern.test(line)).length
      console.log(
        `SIGCONT: the resumed orchestrator refused ${count(/does not hold the partition|partition lost/)} decision(s) for lack of a lease, ` +
          `met ${count(/version conflict/)} version conflict(s), and logged its leases lost ${count(/partition lease\(s\) lost/)} time(s) before rejoining`
      )
      await Promise.all(projects.map((projectId) => publish(projectId, deployCommand(projectId, `dep_${projectId}_3`))))
      await allReady(projects, projects.length * 3)
      await checkAll(published)
    } finally {
      await a.stop("SIGKILL")
      await b.stop()
    }
  })
})
