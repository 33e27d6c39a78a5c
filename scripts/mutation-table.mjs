#!/usr/bin/env node
// Prints the per-file table of docs/mutation.md from a Stryker report: `node scripts/mutation-table.mjs
// [reports/mutation/mutation.json]` (the incremental file works too, e.g. after an interrupted run:
// Stryker saves what it tested so far there). Score = (killed + timed out) / all mutants: survivors,
// mutants no test reaches and mutants not tested yet all count against it.
import { readFileSync } from "node:fs"

const file = process.argv[2] ?? "reports/mutation/mutation.json"
const report = JSON.parse(readFileSync(file, "utf8"))
const statuses = ["Killed", "Timeout", "Survived", "NoCoverage", "Ignored", "RuntimeError", "CompileError"]
const count = (mutants) => {
  const by = Object.fromEntries(statuses.map((status) => [status, 0]))
  for (const mutant of mutants) by[mutant.status] = (by[mutant.status] ?? 0) + 1
  return { ...by, all: mutants.length, static: mutants.filter((mutant) => mutant.static === true).length }
}
const pct = (c) => (c.all === 0 ? "-" : `${((100 * (c.Killed + c.Timeout)) / c.all).toFixed(1)}%`)
const row = (name, c) =>
  `| ${name} | ${c.all} | ${c.Killed} | ${c.Timeout} | ${c.Survived} | ${c.NoCoverage} | ${c.static} | ${pct(c)} |`

console.log("| file | mutants | killed | timed out (killed) | survived | no coverage | static | score |")
console.log("|---|---|---|---|---|---|---|---|")
const all = []
for (const [name, entry] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
  all.push(...entry.mutants)
  console.log(row(`\`${name.replace(/^src\/domain\//, "")}\``, count(entry.mutants)))
}
console.log(row("**all of src/domain**", count(all)))
const other = all.filter((mutant) => !["Killed", "Timeout", "Survived", "NoCoverage"].includes(mutant.status))
if (other.length > 0) console.log(`\n${other.length} mutant(s) with another status: ${[...new Set(other.map((m) => m.status))].join(", ")}`)
