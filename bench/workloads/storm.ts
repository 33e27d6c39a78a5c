/**
 * Workload 1, deploy storm: N projects (CreateProject each, then one Deploy each, all published at
 * once). Deployments per second, publish -> LiveSwitched p50/p99, envelopes appended per second;
 * against the raw limit: expected-sequence appends over 1,000 subjects, 256 in flight, on the fastest
 * publish path (core publish + shared reply inbox; js.publish's figure is printed as a note).
 * With BENCH_PROJECTOR=1 the read-model projector runs in the same process and the p99 lag from
 * decision to row visible is measured as well.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Layer, ManagedRuntime } from "effect"
import postgres from "postgres"
import { subjects } from "../../src/nats/subjects.js"
import { Nats } from "../../src/nats/Nats.js"
import { Database } from "../../src/projections/Database.js"
import { Projector } from "../../src/projections/Projector.js"
import { createDatabaseOn } from "../../test/support/servers.js"
import { createProjectCommand, deployCommand } from "../../test/support/orchestrator.js"
import { benchEnv, resetJetStream, runMain, size } from "../lib/env.js"
import { emit, figure, type Figure } from "../lib/figures.js"
import { startBenchOrchestrator, benchSettings } from "../lib/orchestrator.js"
import { createRawStream, deleteRawStream, rawAppendRate, rawRequestAppendRate } from "../lib/raw.js"
import { profilePhase } from "../lib/profile.js"
import { now, percentile, until } from "../lib/stats.js"
import { envelope, projectHistory } from "../lib/synthetic.js"
import { watchEvents } from "../lib/watch.js"
import { natsServers } from "../../src/nats/servers.js"

const W = process.env["BENCH_PROJECTOR"] === "1" ? "storm + projector" : "deploy storm"
const encoder = new TextEncoder()

runMain(async () => {
  const started = now()
  const env = benchEnv()
  const withProjector = process.env["BENCH_PROJECTOR"] === "1"
  const n = size(env, 1000, 200)
  const rawMessages = size(env, 50_000, 20_000)
  await resetJetStream(env.natsUrl)

  const nc = await connect({ servers: natsServers(env.natsUrl), noAsyncTraces: true })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)

  // Raw limit first, on a scratch stream, with nothing else running in this process.
  await createRawStream(jsm)
  const payload = encoder.encode(JSON.stringify(envelope("p_raw_0000", 0, Date.now(), projectHistory("p_raw_0000", Date.now()).next())))
  const rawOptions = { subjectCount: 1000, messages: rawMessages, window: 256, payload }
  await rawAppendRate(nc, { ...rawOptions, messages: 2000 }) // warm-up
  const rawRate = await rawAppendRate(nc, rawOptions)
  const requestRate = await rawRequestAppendRate(js, rawOptions)
  await deleteRawStream(jsm)

  const { settings } = benchSettings()
  const orchestrator = await startBenchOrchestrator(env.natsUrl, settings)
  let projector: { readonly checkpoint: () => Promise<number>; readonly dispose: () => Promise<void>; readonly sql: postgres.Sql } | undefined
  if (withProjector) {
    const dbUrl = await createDatabaseOn(env.pgAdminUrl)
    const runtime = ManagedRuntime.make(Projector.layer().pipe(Layer.provide(Layer.mergeAll(Database.layer(dbUrl), Nats.layer(env.natsUrl)))))
    await runtime.runtime()
    projector = {
      checkpoint: () => runtime.runPromise(Effect.flatMap(Projector, (p) => p.checkpoint)),
      dispose: () => runtime.dispose(),
      sql: postgres(dbUrl, { max: 2, onnotice: () => {} })
    }
  }
  const watch = watchEvents(nc)
  const ids = Array.from({ length: n }, (_, i) => `p_storm_${i.toString().padStart(5, "0")}`)

  // Phase 1: create every project (not measured).
  await Promise.all(ids.map((id) => js.publish(subjects.command(id), JSON.stringify(createProjectCommand(id)))))
  await until("every ProjectCreated", () => ids.every((id) => watch.created.has(id)), 120_000)

  // Checkpoint timeline: when the projector's checkpoint passed which stream sequence.
  const timeline: Array<{ readonly at: number; readonly seq: number }> = []
  let polling = true
  const poller = (async () => {
    while (polling && projector !== undefined) {
      timeline.push({ at: Date.now(), seq: await projector.checkpoint() })
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  })()

  // Phase 2: one Deploy per project, all at once.
  const envelopesBefore = watch.envelopes()
  const publishedAt = new Map<string, number>()
  const profile = await profilePhase(W)
  const cpuBefore = process.cpuUsage()
  const t0 = now()
  await Promise.all(
    ids.map((id) => {
      const deploymentId = `dep_${id}`
      publishedAt.set(deploymentId, now())
      return js.publish(subjects.command(id), JSON.stringify(deployCommand(id, deploymentId)))
    })
  )
  await until("every LiveSwitched", () => watch.live.size >= n, size(env, 300_000, 110_000), 10)
  const cpu = process.cpuUsage(cpuBefore)
  await profile.stop()
  const lastLive = Math.max(...watch.live.values())
  const elapsedS = (lastLive - t0) / 1000
  const envelopes = watch.envelopes() - envelopesBefore
  const latencies = [...publishedAt].map(([deploymentId, at]) => (watch.live.get(deploymentId) ?? Number.NaN) - at)

  const figures: Array<Figure> = [
    figure(W, "deployments completed / s", "/s", n / elapsedS),
    figure(W, "publish -> LiveSwitched p50", "ms", percentile(latencies, 50)),
    figure(W, "publish -> LiveSwitched p99", "ms", percentile(latencies, 99)),
    figure(W, "envelopes appended / s", "msg/s", envelopes / elapsedS, {
      value: rawRate,
      label: "raw expected-seq core publish + shared inbox, 1,000 subjects, 256 in flight",
      target: ">= 0.2"
    })
  ]
  const notes = [
    `${envelopes} envelopes (${(envelopes / n).toFixed(1)} per deployment) in ${elapsedS.toFixed(2)} s`,
    `process CPU per deployment (orchestrator and this bench's publishing and watching): ${((cpu.user + cpu.system) / 1000 / n).toFixed(2)} ms`,
    `raw through the client's request path (js.publish, same loop): ${Math.round(requestRate).toLocaleString("en-US")} msg/s`
  ]

  if (projector !== undefined) {
    const info = await jsm.streams.info("BERTH_EVENTS")
    const head = info.state.last_seq
    const p = projector
    await until("projector caught up", async () => (await p.checkpoint()) >= head, 120_000)
    polling = false
    await poller
    timeline.push({ at: Date.now(), seq: await p.checkpoint() })
    // Lag of every envelope of the deploy phase: row visible (checkpoint passed it) minus decision time.
    const rows = await p.sql<Array<{ stream_seq: string; at_ms: string }>>`
      select stream_seq::text, (extract(epoch from at) * 1000)::text as at_ms from audit_events where idx = 0 and event_type <> 'ProjectCreated'`
    const lags: Array<number> = []
    for (const row of rows) {
      const seq = Number(row.stream_seq)
      const visible = timeline.find((point) => point.seq >= seq)
      if (visible !== undefined) lags.push(visible.at - Number(row.at_ms))
    }
    figures.push(figure(W, "projection lag decision -> row p50", "ms", percentile(lags, 50)))
    figures.push(figure(W, "projection lag decision -> row p99", "ms", percentile(lags, 99)))
    notes.push(`projection lag over ${lags.length} envelopes; checkpoint sampled every ~2 ms`)
    await p.sql.end()
    await p.dispose()
  } else {
    polling = false
    await poller
  }

  watch.stop()
  await orchestrator.stop()
  await nc.close()
  emit({ workload: W, params: { projects: n, rawMessages, projector: withProjector }, figures, notes, elapsedMs: now() - started })
})
