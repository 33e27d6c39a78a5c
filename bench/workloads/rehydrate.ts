/**
 * Workload 3, cold rehydration: one project with many events in a stream holding many more events of
 * other projects (written raw, valid envelopes). Time to the first decision of a cold actor
 * (EventStore.load, then decide a Deploy), without and with a snapshot at the head; against one
 * direct-get round trip (last_by_subj) measured in the same run. The snapshot is the one the actor
 * writes: finished deployments retired to the archive first (src/domain/retirement.ts), and the first
 * decision does what the actor does before deciding (a digest check, reading the archive on a hit).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Layer, ManagedRuntime, Schema } from "effect"
import { Command } from "../../src/domain/commands.js"
import { defaultOrchestratorSettings } from "../../src/config.js"
import { decide } from "../../src/domain/decide.js"
import { deploymentsNamedBy, reinstate, retire, toReinstate } from "../../src/domain/retirement.js"
import { EventStore } from "../../src/eventstore/EventStore.js"
import { EventStoreLive } from "../../src/eventstore/JetStreamEventStore.js"
import { Archive } from "../../src/eventstore/Archive.js"
import { ensureStreams, Nats } from "../../src/nats/Nats.js"
import { streams, subjects } from "../../src/nats/subjects.js"
import { deployCommand } from "../../test/support/orchestrator.js"
import { benchEnv, resetJetStream, runMain, size } from "../lib/env.js"
import { emit, figure } from "../lib/figures.js"
import { median, now, percentile, timeEach } from "../lib/stats.js"
import { envelope, projectHistory } from "../lib/synthetic.js"
import { natsServers } from "../../src/nats/servers.js"

const W = "cold rehydration"
const encoder = new TextEncoder()

runMain(async () => {
  const started = now()
  const env = benchEnv()
  const targetEvents = size(env, 10_000, 2_000)
  const otherEvents = size(env, 1_000_000, 100_000)
  const otherProjects = 1_000
  const window = 2_000
  await resetJetStream(env.natsUrl)
  const nc = await connect({ servers: natsServers(env.natsUrl), noAsyncTraces: true })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  await Effect.runPromise(ensureStreams(jsm))

  // Fill: the target's events spread evenly among the others'. One connection keeps publish order, and
  // nothing else writes, so every message's sequence is known before its ack (checked against the acks).
  const at = Date.now()
  const target = "p_rehydrate"
  const targetHistory = projectHistory(target, at)
  const others = Array.from({ length: otherProjects }, (_, i) => projectHistory(`p_other_${i}`, at))
  const lastOf = new Map<string, number>()
  const total = targetEvents + otherEvents
  const every = Math.floor(total / targetEvents)
  let targetWritten = 0
  let targetEventCount = 0
  let seq = 0
  const fillStart = now()
  while (seq < total) {
    const pending: Array<Promise<void>> = []
    for (let i = 0; i < window && seq < total; i++) {
      seq++
      const isTarget = targetWritten < targetEvents && seq % every === 0
      const projectId = isTarget ? target : `p_other_${seq % otherProjects}`
      const decision = isTarget ? targetHistory.next() : (others[seq % otherProjects] ?? targetHistory).next()
      if (isTarget) {
        targetWritten++
        targetEventCount += decision.events.length
      }
      const body = envelope(projectId, lastOf.get(projectId) ?? 0, at, decision)
      lastOf.set(projectId, seq)
      const expected = seq
      pending.push(
        js.publish(subjects.events(projectId), encoder.encode(JSON.stringify(body))).then((ack) => {
          if (ack.seq !== expected) throw new Error(`expected sequence ${expected}, got ${ack.seq}`)
        })
      )
    }
    await Promise.all(pending)
  }
  const fillS = (now() - fillStart) / 1000

  // Raw baseline: one direct get of the target's last message.
  const directGet = () => jsm.direct.getMessage(streams.events, { last_by_subj: subjects.events(target) })
  await timeEach(20, directGet)
  const directGets = await timeEach(100, directGet)
  const rtt = percentile(directGets, 50)

  // A process with a NATS connection (the actor system's), then a cold actor: load + first decision.
  const runtime = ManagedRuntime.make(EventStoreLive.pipe(Layer.provide(Nats.layer(env.natsUrl))))
  await runtime.runtime()
  const deploy = Schema.decodeUnknownSync(Command)(deployCommand(target, "dep_rehydrate_next"))
  if (deploy.type !== "Deploy") throw new Error("not a Deploy")
  const firstDecision = () => runtime.runPromise(
    Effect.gen(function* () {
      const store = yield* EventStore
      const archive = yield* Archive
      const loaded = yield* store.load(target)
      const named = toReinstate(loaded.state, deploymentsNamedBy(deploy))
      const state = named.length === 0 ? loaded.state : reinstate(loaded.state, yield* archive.archived(target, named))
      const decision = decide(state, deploy, { now: Date.now(), readinessTimeoutMs: 300_000, apexDomains: defaultOrchestratorSettings.apexDomains })
      return { loaded, decision }
    })
  )
  const coldRuns = 3
  let loadedVersion = 0
  const withoutSnapshot = await timeEach(coldRuns, async () => {
    const { loaded, decision } = await firstDecision()
    if (decision._tag === "Record" && decision.rejection !== undefined) throw new Error("the Deploy was rejected")
    loadedVersion = loaded.version
  })
  // The snapshot the actor would write here: finished deployments archived first, then the hot state.
  const full = (await firstDecision()).loaded.state
  const retirement = retire(full, { keep: defaultOrchestratorSettings.hotDeployments, version: loadedVersion, busy: () => false })
  await runtime.runPromise(
    Effect.gen(function* () {
      const store = yield* EventStore
      yield* (yield* Archive).archive(target, full, retirement)
      yield* store.saveSnapshot(target, loadedVersion, retirement.state)
    })
  )
  const snapshotBytes = JSON.stringify({ format: 2, version: loadedVersion, state: retirement.state }).length
  const fullBytes = JSON.stringify({ format: 2, version: loadedVersion, state: full }).length
  await timeEach(10, firstDecision)
  // Interleaved with direct gets, so both medians come from the same minutes of a shared machine.
  const withSnapshot: Array<number> = []
  const directGetsBeside: Array<number> = []
  for (let i = 0; i < 100; i++) {
    directGetsBeside.push(...(await timeEach(1, directGet)))
    withSnapshot.push(
      ...(await timeEach(1, async () => {
        const { loaded, decision } = await firstDecision()
        if (loaded.envelopesSinceSnapshot !== 0) throw new Error("the snapshot was not used")
        if (decision._tag === "Record" && decision.rejection !== undefined) throw new Error("the Deploy was rejected")
      }))
    )
  }
  const rttBeside = percentile(directGetsBeside, 50)
  await runtime.dispose()
  await nc.close()

  const label = "one direct get (last_by_subj) round trip, p50"
  emit({
    workload: W,
    params: { targetEnvelopes: targetEvents, targetEvents: targetEventCount, otherEnvelopes: otherEvents, otherProjects },
    figures: [
      figure(W, `first decision, no snapshot (${targetEvents.toLocaleString("en-US")} envelopes)`, "ms", median(withoutSnapshot), { value: rtt, label }),
      figure(W, "first decision, snapshot at head", "ms", median(withSnapshot), { value: rttBeside, label, target: "<= 3" })
    ],
    notes: [
      `stream of ${total.toLocaleString("en-US")} envelopes written raw in ${fillS.toFixed(1)} s (${Math.round(total / fillS).toLocaleString("en-US")} msg/s, ${window} in flight)`,
      `no snapshot: median of ${coldRuns} loads (${withoutSnapshot.map((t) => t.toFixed(0)).join(", ")} ms); snapshot: p50 of 100 (its direct-get p50 measured interleaved with them), ${(snapshotBytes / 1024).toFixed(1)} KiB (${Object.keys(retirement.state.deployments).length} hot deployments, ${retirement.retired.length} archived; the full state would be ${(fullBytes / 1024).toFixed(0)} KiB)`
    ],
    elapsedMs: now() - started
  })
})
