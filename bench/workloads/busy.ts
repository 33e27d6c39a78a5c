/**
 * Workload 2, one busy project: Deploys to one project in sequence, each published once the previous
 * went live. Command -> LiveSwitched p50/p99, and the time per decision (envelope) against one raw
 * expected-sequence publish round trip.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { subjects } from "../../src/nats/subjects.js"
import { createProjectCommand, deployCommand } from "../../test/support/orchestrator.js"
import { benchEnv, resetJetStream, runMain, size } from "../lib/env.js"
import { emit, figure } from "../lib/figures.js"
import { benchSettings, startBenchOrchestrator } from "../lib/orchestrator.js"
import { createRawStream, deleteRawStream, rawPublishRoundTrips } from "../lib/raw.js"
import { now, percentile, until } from "../lib/stats.js"
import { envelope, projectHistory } from "../lib/synthetic.js"
import { watchEvents } from "../lib/watch.js"
import { natsServers } from "../../src/nats/servers.js"

const W = "busy project"

runMain(async () => {
  const started = now()
  const env = benchEnv()
  const deploys = size(env, 200, 50)
  await resetJetStream(env.natsUrl)
  const nc = await connect({ servers: natsServers(env.natsUrl), noAsyncTraces: true })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)

  await createRawStream(jsm)
  const payload = new TextEncoder().encode(JSON.stringify(envelope("p_raw", 0, Date.now(), projectHistory("p_raw", Date.now()).next())))
  await rawPublishRoundTrips(nc, 100, payload) // warm-up
  const rtts = await rawPublishRoundTrips(nc, 500, payload)
  await deleteRawStream(jsm)
  const rawRtt = percentile(rtts, 50)

  const { settings } = benchSettings()
  const orchestrator = await startBenchOrchestrator(env.natsUrl, settings)
  const watch = watchEvents(nc)
  const projectId = "p_busy"
  await js.publish(subjects.command(projectId), JSON.stringify(createProjectCommand(projectId)))
  await until("ProjectCreated", () => watch.created.has(projectId), 30_000, 5)

  const latencies: Array<number> = []
  const envelopesBefore = watch.envelopes()
  for (let i = 0; i < deploys; i++) {
    const deploymentId = `dep_busy_${i}`
    const live = watch.waitLive(deploymentId)
    const t = now()
    await js.publish(subjects.command(projectId), JSON.stringify(deployCommand(projectId, deploymentId)))
    latencies.push((await live) - t)
  }
  const perDeploy = (watch.envelopes() - envelopesBefore) / deploys
  const p50 = percentile(latencies, 50)
  const figures = [
    figure(W, "command -> LiveSwitched p50", "ms", p50),
    figure(W, "command -> LiveSwitched p99", "ms", percentile(latencies, 99)),
    figure(W, "time per decision (p50 / envelopes)", "ms", p50 / perDeploy, {
      value: rawRtt,
      label: "one raw expected-seq publish round trip, p50"
    })
  ]
  watch.stop()
  await orchestrator.stop()
  await nc.close()
  emit({
    workload: W,
    params: { deploys },
    figures,
    notes: [
      `${perDeploy.toFixed(1)} envelopes per deployment (Krane poll interval 10 ms)`,
      `raw publish round trip p99 ${percentile(rtts, 99).toFixed(3)} ms`
    ],
    elapsedMs: now() - started
  })
})
