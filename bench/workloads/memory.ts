/**
 * Workload 5, memory: RSS of the orchestrator process once N projects have each handled one Deploy and
 * sit idle (actors alive), and again after passivation. Run with --expose-gc (bench/run.ts does).
 * Actors start with a long idle timeout; to passivate them, the timeout is lowered to 1 s (the
 * registry's idle sweep reads it at each pass, at least every 5 s) and every project is sent its Deploy
 * again (same commandId: decides nothing, which the envelope count checks).
 */
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration } from "effect"
import { subjects } from "../../src/nats/subjects.js"
import { createProjectCommand, deployCommand } from "../../test/support/orchestrator.js"
import { benchEnv, resetJetStream, runMain, size } from "../lib/env.js"
import { emit, figure } from "../lib/figures.js"
import { benchSettings, startBenchOrchestrator } from "../lib/orchestrator.js"
import { mib, now, sleep, until } from "../lib/stats.js"
import { watchEvents } from "../lib/watch.js"
import { natsServers } from "../../src/nats/servers.js"

const W = "memory"

const settle = async (): Promise<{ readonly rss: number; readonly heap: number }> => {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await sleep(100)
  }
  const m = process.memoryUsage()
  return { rss: m.rss, heap: m.heapUsed }
}

// Generous: after the rehydrate workload the server may still be deleting a million-message stream.
const publishOptions = { timeout: 30_000 }

const inBatches = async <A>(items: ReadonlyArray<A>, batch: number, f: (a: A) => Promise<unknown>) => {
  for (let i = 0; i < items.length; i += batch) await Promise.all(items.slice(i, i + batch).map(f))
}

runMain(async () => {
  const started = now()
  const env = benchEnv()
  const n = size(env, 10_000, 1_000)
  await resetJetStream(env.natsUrl)
  const { settings, setIdleTimeout } = benchSettings(Duration.minutes(30))
  const orchestrator = await startBenchOrchestrator(env.natsUrl, settings)
  const nc = await connect({ servers: natsServers(env.natsUrl), noAsyncTraces: true })
  const js = jetstream(nc)
  const watch = watchEvents(nc)
  const base = await settle()

  const ids = Array.from({ length: n }, (_, i) => `p_mem_${i.toString().padStart(5, "0")}`)
  await inBatches(ids, 1_000, (id) => js.publish(subjects.command(id), JSON.stringify(createProjectCommand(id)), publishOptions))
  await until("every ProjectCreated", () => ids.every((id) => watch.created.has(id)), 300_000, 50)
  await inBatches(ids, 1_000, (id) => js.publish(subjects.command(id), JSON.stringify(deployCommand(id, `dep_${id}`)), publishOptions))
  await until("every LiveSwitched", () => watch.live.size >= n, 400_000, 50)
  await sleep(500)
  const idleActors = await orchestrator.activeActors()
  const idle = await settle()

  setIdleTimeout(Duration.seconds(1))
  const envelopesBefore = watch.envelopes()
  await inBatches(ids, 1_000, (id) => js.publish(subjects.command(id), JSON.stringify(deployCommand(id, `dep_${id}`)), publishOptions))
  await until("every actor passivated", async () => (await orchestrator.activeActors()) === 0, 120_000, 200)
  const passivated = await settle()
  const extraEnvelopes = watch.envelopes() - envelopesBefore

  watch.stop()
  await nc.close()
  await orchestrator.stop()
  const perActorKiB = ((idle.rss - passivated.rss) / Math.max(1, idleActors)) * 1024 / (1024 * 1024)
  emit({
    workload: W,
    params: { projects: n },
    figures: [
      figure(W, "RSS before any project", "MiB", mib(base.rss)),
      figure(W, `RSS, ${n.toLocaleString("en-US")} idle actors`, "MiB", mib(idle.rss)),
      figure(W, "RSS after passivation", "MiB", mib(passivated.rss)),
      figure(W, "heap per idle actor", "KiB", ((idle.heap - passivated.heap) / Math.max(1, idleActors)) / 1024)
    ],
    notes: [
      `${idleActors} actors alive when idle; heap ${mib(base.heap).toFixed(1)} -> ${mib(idle.heap).toFixed(1)} -> ${mib(passivated.heap).toFixed(1)} MiB (after gc)`,
      `RSS freed by passivation: ${perActorKiB.toFixed(1)} KiB per actor; repeated Deploys appended ${extraEnvelopes} envelopes`
    ],
    elapsedMs: now() - started
  })
})
