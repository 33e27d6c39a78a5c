/**
 * The chaos suite: rounds of a deployment storm under injected faults against one cluster, each round
 * checked against the invariants once healed. Used by `npm run chaos` (run.ts) and by the CI-sized
 * test (chaos.e2e.test.ts). A round's plan depends only on (seed, round), so any round can be run
 * again alone: `npm run chaos -- --seed <seed> --round <n>` (on a fresh cluster).
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Cluster, startCluster } from "./cluster.js"
import { invariantNames } from "./invariants.js"
import { faultKinds, planRound, type StormSize } from "./plan.js"
import { failedVerdicts, faultCounts, type RoundResult, runRound } from "./round.js"

export interface ChaosOptions {
  readonly seed: number
  /** The round numbers to run (1-based), in order. */
  readonly rounds: ReadonlyArray<number>
  readonly size: StormSize
  readonly quiesceTimeoutMs?: number
  /** Run the remaining rounds after a failed one (their checks then see its leftovers). Default false. */
  readonly keepGoing?: boolean
  /** Progress lines (default: nothing). */
  readonly log?: (line: string) => void
  /** Run on this cluster instead of starting one (the caller closes it). */
  readonly cluster?: Cluster
}

export interface ChaosReport {
  readonly seed: number
  readonly results: ReadonlyArray<RoundResult>
  readonly ok: boolean
}

export const runChaos = async (options: ChaosOptions): Promise<ChaosReport> => {
  const log = options.log ?? (() => {})
  const started = Date.now()
  const cluster = options.cluster ?? (await startCluster())
  log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s (NATS ${cluster.natsUrl}, PostgreSQL ${cluster.databaseUrl}, Krane ${cluster.krane.url})`)
  const results: Array<RoundResult> = []
  try {
    for (const round of options.rounds) {
      const plan = planRound(options.seed, round, options.size)
      log(`round ${round}: ${plan.ops.length} commands over ${plan.projects.length} projects; faults ${plan.faults.map((f) => `${f.kind}@${(f.atMs / 1000).toFixed(1)}s${f.forMs > 0 ? `/${(f.forMs / 1000).toFixed(1)}s` : ""}`).join(", ")}`)
      const result = await runRound(plan, cluster, { quiesceTimeoutMs: options.quiesceTimeoutMs ?? 120_000, log })
      results.push(result)
      const failed = failedVerdicts(result)
      for (const fault of result.faults.filter((f) => f.error !== undefined)) log(`  fault ${fault.fault.kind} not injected: ${fault.error}`)
      log(`round ${round}: ${failed.length === 0 ? "ok" : `FAILED (${failed.map((v) => v.name).join(", ")})`} in ${(result.totalMs / 1000).toFixed(1)} s`)
      if (failed.length > 0) {
        const file = join(tmpdir(), `berth-chaos-seed${options.seed}-round${round}.log`)
        writeFileSync(file, cluster.berth.output())
        log(`round ${round}: Berth's output so far is in ${file}`)
        if (options.keepGoing !== true) break
      }
    }
  } finally {
    if (options.cluster === undefined) await cluster.close()
  }
  return { seed: options.seed, results, ok: results.every((r) => failedVerdicts(r).length === 0) }
}

const abbreviations: Readonly<Record<(typeof faultKinds)[number], string>> = {
  "orchestrator-kill": "orch",
  "nats-kill": "nats",
  "pg-stop": "pg",
  "krane-5xx": "5xx",
  "krane-hang": "hang"
}

const pad = (text: string | number, width: number) => String(text).padStart(width)

/** The summary table, then each failed round's diff and the command that runs it again. */
export const formatReport = (report: ChaosReport, rerun: (round: number) => string): string => {
  const lines: Array<string> = []
  const faultHeader = faultKinds.map((k) => pad(abbreviations[k], 4)).join(" ")
  lines.push(`seed ${report.seed}`)
  lines.push(`round | faults: ${faultHeader} | commands | deployments ready/failed/cancelled | rejected | invariants | storm+settle`)
  const totals = Object.fromEntries(faultKinds.map((k) => [k, 0])) as Record<(typeof faultKinds)[number], number>
  let checked = 0
  let passed = 0
  for (const result of report.results) {
    const counts = faultCounts(result)
    for (const kind of faultKinds) totals[kind] += counts[kind]
    const ok = result.verdicts.filter((v) => v.ok).length
    checked += result.verdicts.length
    passed += ok
    const { ready, failed, cancelled, rejected } = result.outcomes
    lines.push(
      [
        pad(result.plan.round, 5),
        `        ${faultKinds.map((k) => pad(counts[k], 4)).join(" ")}`,
        pad(result.published.size, 8),
        pad(`${ready}/${failed}/${cancelled}`, 35),
        pad(rejected, 8),
        pad(`${ok}/${result.verdicts.length}${ok === result.verdicts.length ? "" : " FAIL"}`, 10),
        pad(`${(result.stormMs / 1000).toFixed(1)}+${(result.quiesceMs / 1000).toFixed(1)} s`, 12)
      ].join(" | ")
    )
  }
  lines.push(
    `total | ${report.results.length} rounds ${faultKinds.map((k) => pad(totals[k], 4)).join(" ")} | invariants passed ${passed}/${checked} (${invariantNames.join(", ")})`
  )
  for (const result of report.results) {
    const failed = failedVerdicts(result)
    if (failed.length === 0) continue
    lines.push("")
    lines.push(`FAILED: seed ${report.seed} round ${result.plan.round}; run it again with: ${rerun(result.plan.round)}`)
    lines.push(
      `  faults: ${result.faults.map((f) => `${f.fault.kind} at ${(f.startedMs / 1000).toFixed(1)} s${f.fault.forMs > 0 ? ` for ${(f.fault.forMs / 1000).toFixed(1)} s` : ""}${f.error !== undefined ? ` (not injected: ${f.error})` : ""}`).join(", ")}`
    )
    for (const verdict of failed) {
      lines.push(`  ${verdict.name} (${verdict.checked}):`)
      lines.push(verdict.diff.split("\n").map((line) => `    ${line}`).join("\n"))
    }
  }
  return lines.join("\n")
}
