/**
 * The public-interface workloads: Berth as `npm start` runs it (bench/lib/publicBerth.ts), commands
 * published to JetStream by this process as an independent client, deployments seen live by their
 * LiveSwitched event on `berth.evt.>`. The same shapes as the Restate peer (../shared/peers/restate).
 *
 * BENCH_PUBLIC=deploys (default):
 *   W1: N projects x 1 Deploy, all published at once: deployments/s, submit -> live p50/p99.
 *   W2: sequential Deploys to one project (each waits for the last to go live): submit -> live p50/p99.
 * BENCH_PUBLIC=history:
 *   W3: P projects x R rounds of one Deploy each (a round waits for all P to go live): round time of
 *   the early rounds (after the first) against the last ones, and Berth's RSS (supervisor + roles)
 *   after the early rounds against the end, with each role's RSS and live heap (after a full
 *   collection, bench/lib/memoryPreload.mjs) at both points. Cost must not grow with history.
 *   BENCH_BERTH_MEMORY=<dir> keeps the reports (<role>-<pid>-<1|2>.json, with the largest anonymous
 *   mappings); BENCH_BERTH_HEAPSNAP=<dir> adds a heap snapshot of each role at both points, for
 *   `node bench/lib/heapDiff.mjs <role>-<pid>-1.heapsnapshot <role>-<pid>-2.heapsnapshot` (writing one
 *   raises the process's RSS for good: leave it out when RSS is the figure).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { subjects } from "../../src/nats/subjects.js"
import { createProjectCommand, deployCommand } from "../../test/support/orchestrator.js"
import { benchEnv, resetJetStream, runMain, size } from "../lib/env.js"
import { emit, figure, type Figure } from "../lib/figures.js"
import { startPublicBerth, type RoleHeap } from "../lib/publicBerth.js"
import { median, now, percentile, until } from "../lib/stats.js"
import { watchEvents } from "../lib/watch.js"
import { natsServers } from "../../src/nats/servers.js"

const mode = process.env["BENCH_PUBLIC"] === "history" ? "history" : "deploys"

interface PeerFigures {
  readonly w1Rate: number
  readonly w1P50: number
  readonly w1P99: number
  readonly w2P50: number
  readonly w2P99: number
  readonly label: string
}

/**
 * BENCH_PEER_RESULTS=<the Restate peer's results.json>, from a run right before this one on the same
 * machine: its W1/W2 figures go in the comparison column, with the issue's targets as ratios.
 */
const peerFigures = (): PeerFigures | undefined => {
  const file = process.env["BENCH_PEER_RESULTS"]
  if (file === undefined || file === "") return undefined
  const results = JSON.parse(readFileSync(file, "utf8")) as {
    readonly finished_at?: string
    readonly workloads: {
      readonly w1: { readonly n: number; readonly deploys_per_s: number; readonly submit_to_live_ms: { readonly p50: number; readonly p99: number } }
      readonly w2: { readonly n: number; readonly latency_ms: { readonly p50: number; readonly p99: number } }
    }
  }
  const { w1, w2 } = results.workloads
  return {
    w1Rate: w1.deploys_per_s,
    w1P50: w1.submit_to_live_ms.p50,
    w1P99: w1.submit_to_live_ms.p99,
    w2P50: w2.latency_ms.p50,
    w2P99: w2.latency_ms.p99,
    label: `Restate peer, W1 ${w1.n} / W2 ${w2.n}, ${results.finished_at ?? "?"}`
  }
}

runMain(async () => {
  const started = now()
  const env = benchEnv()
  await resetJetStream(env.natsUrl)
  // Where each role's memory reports (and heap snapshots) go: kept when named, else a scratch directory.
  const snapshotDir = process.env["BENCH_BERTH_HEAPSNAP"] ?? ""
  const keptDir = snapshotDir !== "" ? snapshotDir : (process.env["BENCH_BERTH_MEMORY"] ?? "")
  if (keptDir !== "") mkdirSync(keptDir, { recursive: true })
  const memoryDir = mode !== "history" ? undefined : keptDir !== "" ? keptDir : mkdtempSync(join(tmpdir(), "berth-w3-memory-"))
  const berth = await startPublicBerth(env.natsUrl, env.pgAdminUrl, memoryDir === undefined ? {} : { memoryDir })
  const nc = await connect({ servers: natsServers(env.natsUrl), noAsyncTraces: true })
  const js = jetstream(nc)
  const watch = watchEvents(nc)
  const send = (projectId: string, command: object) => js.publish(subjects.command(projectId), JSON.stringify(command))
  const createProjects = async (ids: ReadonlyArray<string>) => {
    await Promise.all(ids.map((id) => send(id, { ...createProjectCommand(id), apexDomain: "berth.localhost" })))
    // berth.localhost: the apex domain `npm start` serves by default.
    await until("every ProjectCreated", () => ids.every((id) => watch.created.has(id)), size(env, 300_000, 60_000))
  }
  const figures: Array<Figure> = []
  const notes: Array<string> = []
  const params: Record<string, number | string> = { mode }

  try {
    if (mode === "deploys") {
      // W1: a storm of one Deploy each.
      const n = size(env, 1000, 100)
      params["w1Projects"] = n
      const ids = Array.from({ length: n }, (_, i) => `p_pub_${i.toString().padStart(5, "0")}`)
      await createProjects(ids)
      const publishedAt = new Map<string, number>()
      const cpuBefore = berth.cpuMs()
      const t0 = now()
      await Promise.all(
        ids.map((id) => {
          const deploymentId = `dep_${id}`
          publishedAt.set(deploymentId, now())
          return send(id, deployCommand(id, deploymentId))
        })
      )
      await until("every LiveSwitched of W1", () => [...publishedAt.keys()].every((d) => watch.live.has(d)), 300_000, 10)
      const lastLive = Math.max(...[...publishedAt.keys()].map((d) => watch.live.get(d) ?? 0))
      const w1 = [...publishedAt].map(([d, at]) => (watch.live.get(d) ?? Number.NaN) - at)
      const W1 = `W1 public: ${n} projects x 1 Deploy`
      const peer = peerFigures()
      const vsPeer = (value: number | undefined, target: string) =>
        peer === undefined || value === undefined ? undefined : { value, label: peer.label, target }
      figures.push(figure(W1, "deployments completed / s", "/s", n / ((lastLive - t0) / 1000), vsPeer(peer?.w1Rate, ">= 3")))
      figures.push(figure(W1, "submit -> live p50", "ms", percentile(w1, 50), vsPeer(peer?.w1P50, "<= 1")))
      figures.push(figure(W1, "submit -> live p99", "ms", percentile(w1, 99), vsPeer(peer?.w1P99, "<= 0.333")))
      notes.push(`W1 RSS after the storm: ${describeRss(berth.rssMiB())}`)
      notes.push(`W1 CPU per deployment by role: ${describeCpu(cpuBefore, berth.cpuMs(), n)}`)

      // W2: sequential Deploys to one project.
      const m = size(env, 200, 30)
      params["w2Deploys"] = m
      const project = "p_pub_seq"
      await createProjects([project])
      const w2: Array<number> = []
      const w2CpuBefore = berth.cpuMs()
      const w2Arrivals = watch.envelopesOf(project)
      const w2Starts: Array<{ readonly at: number; readonly monotonicUs: number }> = []
      for (let i = 0; i < m; i++) {
        const deploymentId = `dep_seq_${i}`
        const at = now()
        w2Starts.push({ at, monotonicUs: Number(process.hrtime.bigint() / 1000n) })
        const live = watch.waitLive(deploymentId, 60_000)
        await send(project, deployCommand(project, deploymentId))
        w2.push((await live) - at)
      }
      const W2 = `W2 public: ${m} sequential Deploys`
      figures.push(figure(W2, "submit -> live p50", "ms", percentile(w2, 50), vsPeer(peer?.w2P50, "<= 0.333")))
      figures.push(figure(W2, "submit -> live p99", "ms", percentile(w2, 99), vsPeer(peer?.w2P99, "<= 1")))
      notes.push(`W2 submit -> live max ${Math.round(Math.max(...w2))} ms`)
      notes.push(`W2 CPU per deployment by role: ${describeCpu(w2CpuBefore, berth.cpuMs(), m)}`)
      notes.push(...describeW2Tail(w2, w2Starts, w2Arrivals))
    } else {
      // W3: rounds over the same projects; history grows, cost should not.
      const p = size(env, 100, 20)
      const rounds = size(env, 60, 12)
      const window = Math.max(3, Math.floor(rounds / 6))
      params["w3Projects"] = p
      params["w3Rounds"] = rounds
      const ids = Array.from({ length: p }, (_, i) => `p_hist_${i.toString().padStart(4, "0")}`)
      await createProjects(ids)
      const roundMs: Array<number> = []
      const rss: Array<number> = []
      const orchestratorRss: Array<number> = []
      // CPU time each role used per round: what a round costs, whatever else the machine runs.
      const cpuPerRound: Array<Readonly<Record<string, number>>> = []
      let cpuBefore = berth.cpuMs()
      let rssAfterWarmUp = berth.rssMiB()
      let heapAfterWarmUp: Readonly<Record<string, RoleHeap>> = {}
      for (let r = 1; r <= rounds; r++) {
        const deployments = ids.map((id) => ({ id, deploymentId: `dep_${id}_${r}` }))
        const t0 = now()
        await Promise.all(deployments.map(({ id, deploymentId }) => send(id, deployCommand(id, deploymentId))))
        await until(`every LiveSwitched of round ${r}`, () => deployments.every(({ deploymentId }) => watch.live.has(deploymentId)), 120_000, 5)
        roundMs.push(Math.max(...deployments.map(({ deploymentId }) => watch.live.get(deploymentId) ?? 0)) - t0)
        const cpu = berth.cpuMs()
        cpuPerRound.push(Object.fromEntries(Object.entries(cpu).map(([role, ms]) => [role, ms - (cpuBefore[role] ?? Number.NaN)])))
        cpuBefore = cpu
        const sample = berth.rssMiB()
        rss.push(sample.total)
        orchestratorRss.push(sample.byRole["orchestrator"] ?? Number.NaN)
        if (r === window + 1) {
          rssAfterWarmUp = sample
          heapAfterWarmUp = await berth.heapMiB()
        }
      }
      const rssAtEnd = berth.rssMiB()
      const heapAtEnd = await berth.heapMiB()
      // Early: the rounds after the first (warm-up); late: the last ones.
      const early = median(roundMs.slice(1, 1 + window))
      const late = median(roundMs.slice(-window))
      const rssEarly = rss[window] ?? Number.NaN
      const rssLate = rss[rss.length - 1] ?? Number.NaN
      const W3 = `W3 public: ${p} projects x ${rounds} rounds`
      figures.push(figure(W3, `round time, early (rounds 2-${window + 1}, median)`, "ms", early))
      figures.push(
        figure(W3, `round time, late (last ${window}, median)`, "ms", late, { value: early, label: "early rounds, same run", target: "<= 1.1" })
      )
      figures.push(figure(W3, `Berth RSS after round ${window + 1}`, "MiB", rssEarly))
      figures.push(figure(W3, "Berth RSS at the end", "MiB", rssLate, { value: rssEarly, label: "after the early rounds", target: "<= 1.1" }))
      const orchEarly = orchestratorRss[window] ?? Number.NaN
      figures.push(
        figure(W3, "orchestrator RSS at the end", "MiB", orchestratorRss[orchestratorRss.length - 1] ?? Number.NaN, {
          value: orchEarly,
          label: "after the early rounds",
          target: "<= 1.1"
        })
      )
      const cpuOf = (role: string) => cpuPerRound.map((round) => round[role] ?? Number.NaN)
      const orchestratorCpu = cpuOf("orchestrator")
      figures.push(figure(W3, `orchestrator CPU per round, early (rounds 2-${window + 1}, median)`, "ms", median(orchestratorCpu.slice(1, 1 + window))))
      figures.push(
        figure(W3, `orchestrator CPU per round, late (last ${window}, median)`, "ms", median(orchestratorCpu.slice(-window)), {
          value: median(orchestratorCpu.slice(1, 1 + window)),
          label: "early rounds, same run",
          target: "<= 1.1"
        })
      )
      notes.push(`W3 round times (ms): ${roundMs.map((t) => Math.round(t)).join(" ")}`)
      notes.push(
        `W3 CPU per round, median of rounds 2-${window + 1} -> of the last ${window} (ms): ${Object.keys(cpuPerRound[0] ?? {})
          .map((role) => `${role} ${Math.round(median(cpuOf(role).slice(1, 1 + window)))} -> ${Math.round(median(cpuOf(role).slice(-window)))}`)
          .join(", ")}`
      )
      notes.push(`W3 RSS after round ${window + 1} -> at the end: ${describeRss(rssAfterWarmUp)} -> ${describeRss(rssAtEnd)}`)
      notes.push(`W3 after a full GC, after round ${window + 1} -> at the end: ${describeHeaps(heapAfterWarmUp, heapAtEnd)}`)
      notes.push(`W3 total RSS per round (MiB): ${rss.map((value) => Math.round(value)).join(" ")}`)
      if (snapshotDir !== "") notes.push(`W3 heap snapshots (after round ${window + 1}: -1, at the end: -2) in ${snapshotDir}`)
    }
  } catch (error) {
    process.stderr.write(`Berth's output (tail):\n${berth.berth.output().slice(-6000)}\n`)
    throw error
  } finally {
    watch.stop()
    await nc.close()
    await berth.stop()
    if (memoryDir !== undefined && keptDir === "") rmSync(memoryDir, { recursive: true, force: true })
  }
  emit({ workload: mode === "deploys" ? "public W1/W2" : "public W3", params, figures, notes, elapsedMs: now() - started })
})

const describeRss = (rss: { readonly total: number; readonly byRole: Readonly<Record<string, number>> }): string =>
  `${Math.round(rss.total)} MiB (${Object.entries(rss.byRole)
    .map(([role, value]) => `${role} ${Math.round(value)}`)
    .join(", ")}; the rest is the supervisor)`

const describeHeaps = (early: Readonly<Record<string, RoleHeap>>, late: Readonly<Record<string, RoleHeap>>): string =>
  Object.entries(late)
    .map(([role, heap]) => {
      const before = early[role]
      const pair = (of: (h: RoleHeap) => number) => `${before === undefined ? "?" : of(before).toFixed(1)} -> ${of(heap).toFixed(1)}`
      return (
        `${role} heap used ${pair((h) => h.heapUsed)} of ${pair((h) => h.heapTotal)} MiB, RSS ${pair((h) => h.rss)} ` +
        `(anonymous ${pair((h) => h.anon)}, malloc ${pair((h) => h.malloc)}, files ${pair((h) => h.files)})`
      )
    })
    .join("; ")

/**
 * Where W2's time goes: the slowest deploys by their place in the sequence (periodic work shows as a
 * period), and the median gap before each envelope of a deployment (which stage is slow). With
 * BENCH_W2_TIMELINE=<file>, each deploy's start on the monotonic clock (the clock of the cpuprofiles
 * BENCH_BERTH_PROFILE writes) and its latency go to that file, to see what each process did while a
 * slow one waited.
 */
const describeW2Tail = (
  w2: ReadonlyArray<number>,
  starts: ReadonlyArray<{ readonly at: number; readonly monotonicUs: number }>,
  arrivals: ReadonlyArray<{ readonly at: number; readonly types: ReadonlyArray<string> }>
): ReadonlyArray<string> => {
  const slowest = w2.map((ms, i) => ({ ms, i })).sort((a, b) => b.ms - a.ms).slice(0, 6)
  const gaps: Array<Array<number>> = []
  const stages: Array<string> = []
  starts.forEach(({ at: start }, i) => {
    const end = starts[i + 1]?.at ?? Number.POSITIVE_INFINITY
    let previous = start
    arrivals
      .filter(({ at }) => at >= start && at < end)
      .forEach(({ at, types }, k) => {
        ;(gaps[k] ??= []).push(at - previous)
        stages[k] ??= types.join("+")
        previous = at
      })
  })
  const timeline = process.env["BENCH_W2_TIMELINE"]
  if (timeline !== undefined && timeline !== "") {
    writeFileSync(timeline, JSON.stringify(w2.map((ms, i) => ({ i, startUs: starts[i]?.monotonicUs, ms }))))
  }
  return [
    `W2 slowest (deploy #: ms): ${slowest.map(({ i, ms }) => `${i}: ${Math.round(ms)}`).join(", ")}`,
    `W2 median gap before each envelope (ms): ${gaps.map((g, k) => `${stages[k]} ${median(g).toFixed(1)}`).join(" | ")}`
  ]
}

/** Each role's CPU time between two samples, per deployment (a role restarted in between reads low). */
const describeCpu = (before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>, deployments: number): string =>
  Object.entries(after)
    .map(([role, ms]) => `${role} ${((ms - (before[role] ?? 0)) / deployments).toFixed(2)} ms`)
    .join(", ")
