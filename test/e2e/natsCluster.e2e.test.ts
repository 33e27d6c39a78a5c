/**
 * Fail-over of the NATS cluster under load: two orchestrators and a projector on a real three-node
 * cluster (R3 streams) and a real PostgreSQL, Krane faked. Mid-storm the node leading BERTH_EVENTS is
 * killed (kill -9). Afterwards every deployment is live, each project's log is one unbroken chain (no
 * gap, no two decisions after one version), every command was decided once, no step's event was
 * written twice, Krane holds exactly the live deployments, and the read model equals a replay of the log.
 * A command published the moment the node dies is decided once the cluster has a new leader: how long
 * that takes is printed (the interruption a node loss causes). Then the node comes back and catches up.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { Duration, Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { Nats } from "../../src/nats/Nats.js"
import { buckets, streams } from "../../src/nats/subjects.js"
import { Database } from "../../src/projections/Database.js"
import { Projector } from "../../src/projections/Projector.js"
import { checkDecidedOnce, checkKrane, checkNoDuplicateSteps, checkReadModel, checkTerminal, storyOf } from "../chaos/invariants.js"
import { foldAll, type Log, readLog } from "../chaos/log.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { startTestNatsCluster, type TestNatsCluster } from "../support/natsCluster.js"
import { type Client, connectClient, createProjectCommand, deployCommand, fastSettings, type RunningOrchestrator, startOrchestrator } from "../support/orchestrator.js"
import { freshDatabase } from "../support/servers.js"

let cluster: TestNatsCluster
let client: Client | undefined
const orchestrators: Array<RunningOrchestrator> = []
let projector: ManagedRuntime.ManagedRuntime<Projector, unknown> | undefined

beforeAll(async () => {
  cluster = await startTestNatsCluster()
})

afterAll(async () => {
  await client?.close()
  await Promise.all(orchestrators.map((orchestrator) => orchestrator.stop().catch(() => undefined)))
  await projector?.dispose().catch(() => undefined)
  await cluster?.close()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Each project's envelopes follow one another: the first after version 0, each next after the one before. */
const brokenChains = (log: Log): ReadonlyArray<string> =>
  [...log.byProject].flatMap(([projectId, envelopes]) =>
    envelopes.flatMap((envelope, i) => {
      const after = i === 0 ? 0 : envelopes[i - 1]?.seq
      return envelope.previousVersion === after ? [] : [`${projectId} #${envelope.seq} follows version ${envelope.previousVersion}, not ${after}`]
    })
  )

it("killing the node that leads BERTH_EVENTS mid-storm loses nothing, deciding resumes, and the node catches up on restart", async () => {
  const krane = makeFakeKrane()
  krane.setReadyAfterPolls(1)
  const quiet = Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
  // assign-domains waits out a bucket's leader election (5-20 s) with the built-in policy's 500 ms backoff,
  // as in production: the tests' 10 ms backoff spent its 8 attempts in ~1 s and failed deployments.
  const settings = { ...fastSettings, stepRetries: { ...fastSettings.stepRetries, "assign-domains": { attempts: 8, backoff: Duration.millis(500) } } }
  for (let i = 0; i < 2; i++) orchestrators.push(await startOrchestrator(cluster.url, krane.layer.pipe(quiet), settings))
  const databaseUrl = await freshDatabase("cluster")
  projector = ManagedRuntime.make(
    Projector.layer().pipe(Layer.provideMerge(Layer.merge(Nats.layer(cluster.url), Database.layer(databaseUrl))), Layer.provide(Logger.minimumLogLevel(LogLevel.Error)))
  )
  await projector.runtime()
  client = await connectClient(cluster.url, {})
  const publishing = client

  const projects = Array.from({ length: 6 }, (_, i) => `proj_fo${i}`)
  const published = new Map<string, string>()
  const publish = async (projectId: string, command: { readonly commandId: string }) => {
    published.set(command.commandId, projectId)
    // A publish caught by the node's death (or BERTH_COMMANDS electing a new leader: no responders) is
    // tried again; the commands stream dedups by Nats-Msg-Id.
    const deadline = Date.now() + 60_000
    for (;;) {
      try {
        await publishing.js.publish(`berth.cmd.${projectId}`, JSON.stringify(command), { msgID: command.commandId, timeout: 5_000 })
        return
      } catch (error) {
        if (Date.now() > deadline) throw error
        await sleep(250)
      }
    }
  }
  for (const projectId of projects) await publish(projectId, createProjectCommand(projectId))

  const leader = await cluster.leaderOf(streams.events)
  const deploys = projects.flatMap((projectId) => Array.from({ length: 5 }, (_, d) => ({ projectId, command: deployCommand(projectId, `dep_${projectId}_${d}`) })))
  let killedAt = 0
  let probeDecidedAfterMs = -1
  const probe = "proj_probe"
  for (const [i, { projectId, command }] of deploys.entries()) {
    await publish(projectId, command)
    if (i === Math.floor(deploys.length / 3)) {
      await cluster.kill(leader)
      killedAt = Date.now()
      await publish(probe, createProjectCommand(probe))
      void (async () => {
        // Reads fail too while the stream elects its new leader: polled until one answers with the decision.
        while (Date.now() - killedAt < 60_000) {
          const events = await publishing.events(probe).catch(() => [])
          if (events.some((event) => event.type === "ProjectCreated")) return void (probeDecidedAfterMs = Date.now() - killedAt)
          await sleep(50)
        }
      })()
    }
    await sleep(20)
  }

  // Quiescent: every deployment live (the fake Krane never fails).
  const deadline = Date.now() + 90_000
  // No account-info check: that request can time out too while the cluster recovers (read() retries).
  const jsm = await jetstreamManager(publishing.nc, { checkAPI: false })
  const read = async (): Promise<Log> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await readLog(publishing.js, jsm)
      } catch (error) {
        if (attempt >= 20) throw error
        await sleep(500)
      }
    }
  }
  let log = await read()
  for (;;) {
    const states = foldAll(log)
    const live = [...states.values()].flatMap((state) => Object.values(state.deployments)).filter((d) => d.status === "ready").length
    if (live === deploys.length && probeDecidedAfterMs >= 0) break
    if (Date.now() > deadline) {
      const stuck = [...states].flatMap(([projectId, state]) =>
        Object.values(state.deployments).filter((d) => d.status !== "ready").map((d) => `${projectId}/${d.id} ${d.status}:\n${storyOf(log, projectId, d.id)}`)
      )
      const inflight = await (await new Kvm(publishing.nc).open(buckets.inflight)).keys().then(async (keys) => {
        const found: Array<string> = []
        for await (const key of keys) found.push(key)
        return found
      }).catch((error: unknown) => [`(unreadable: ${String(error)})`])
      throw new Error(
        `${live} of ${deploys.length} deployments live 90 s after the storm (probe decided: ${probeDecidedAfterMs} ms); in-flight markers: ${inflight.join(", ")}\n${stuck.join("\n")}`
      )
    }
    await sleep(500)
    log = await read()
  }
  // The longest pause in deciding: the widest gap between two consecutive decisions (envelope times).
  const times = [...log.byProject.values()].flat().sort((a, b) => a.seq - b.seq).map((envelope) => envelope.at)
  const widestGapMs = times.reduce((widest, at, i) => (i === 0 ? 0 : Math.max(widest, at - (times[i - 1] ?? at))), 0)
  console.log(
    `killed ${leader} (BERTH_EVENTS leader); new leader ${await cluster.leaderOf(streams.events)}; ` +
      `a command published at the kill was decided ${probeDecidedAfterMs} ms later; widest pause between decisions ${widestGapMs} ms`
  )

  const states = foldAll(log)
  expect(log.undecodable).toEqual([])
  expect(brokenChains(log)).toEqual([])
  for (const verdict of [checkDecidedOnce(log, published), checkNoDuplicateSteps(log), checkTerminal(log, states), checkKrane(log, states, krane)]) {
    expect(verdict.diff, verdict.name).toBe("")
  }
  await projector.runPromise(Effect.flatMap(Projector, (p) => p.waitFor(log.lastSeq)).pipe(Effect.timeout("60 seconds")))
  const { inject } = await import("vitest")
  const readModel = await checkReadModel({ natsUrl: cluster.url, pgAdminUrl: inject("pgAdminUrl"), databaseUrl, lastSeq: log.lastSeq })
  expect(readModel.diff, readModel.checked).toBe("")
  expect(probeDecidedAfterMs).toBeLessThan(30_000)

  // The node comes back on its store and catches up: all three replicas of the log current again.
  await cluster.restart(leader)
  const caughtUp = Date.now() + 60_000
  for (;;) {
    const replicas = await jsm.streams.info(streams.events).then((info) => info.cluster?.replicas ?? [], () => [])
    if (replicas.length === 2 && replicas.every((replica) => replica.current)) break
    if (Date.now() > caughtUp) throw new Error(`${leader} did not catch up with BERTH_EVENTS: ${JSON.stringify(replicas)}`)
    await sleep(250)
  }
})
