/** Plain-text table printing for the bench summary. */
import type { Figure } from "./figures.js"

const fmt = (value: number | null, unit = ""): string => {
  if (value === null) return "-"
  if (!Number.isFinite(value)) return String(value)
  const abs = Math.abs(value)
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : 3
  const text = value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 })
  return unit === "" ? text : `${text} ${unit}`
}

export const renderTable = (figures: ReadonlyArray<Figure>): string => {
  const header = ["workload", "figure", "Berth", "raw limit (same run)", "ratio", "target"]
  const rows = figures.map((f) => [
    f.workload,
    f.figure,
    fmt(f.berth, f.unit),
    f.raw === null ? "-" : `${fmt(f.raw, f.unit)} (${f.rawLabel ?? ""})`,
    f.ratio === null ? "-" : fmt(f.ratio),
    f.target === null ? "-" : `${f.target} ${f.pass === true ? "ok" : f.pass === false ? "MISSED" : ""}`.trim()
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`
  const rule = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`
  return [line(header), rule, ...rows.map(line)].join("\n")
}
