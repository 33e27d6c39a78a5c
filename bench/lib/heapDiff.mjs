// Compares two V8 heap snapshots of one process (bench/lib/memoryPreload.mjs writes them):
//   node bench/lib/heapDiff.mjs <early.heapsnapshot> <late.heapsnapshot> [--top 40] [--retainers Name]
// prints the object groups (constructor or closure name; strings, arrays and code by type) whose count
// or self size grew most; the objects of the late snapshot that are newer than the early one (V8 keeps
// object ids across snapshots of one process), grouped by what holds them (group <- .edge of holder);
// and with --retainers the retainer chain of a few of the newest objects of that group in the late
// snapshot. Plain Node, no dependencies; needs ~5x the file size in memory.
import { readFileSync } from "node:fs"

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(name)
  if (at < 0) return fallback
  const value = args[at + 1]
  args.splice(at, 2)
  return value
}
const top = Number(option("--top", "40"))
const retainersOf = option("--retainers", undefined)
const [earlyFile, lateFile] = args
if (earlyFile === undefined || lateFile === undefined) {
  process.stderr.write("usage: node bench/lib/heapDiff.mjs <early.heapsnapshot> <late.heapsnapshot> [--top 40] [--retainers Name]\n")
  process.exit(2)
}

const named = new Set(["object", "closure", "native", "hidden", "synthetic", "object shape"])

const load = (file) => {
  const snapshot = JSON.parse(readFileSync(file, "utf8"))
  const meta = snapshot.snapshot.meta
  const fields = meta.node_fields
  const width = fields.length
  const types = meta.node_types[0]
  const at = (name) => fields.indexOf(name)
  const [typeAt, nameAt, idAt, sizeAt, edgesAt] = ["type", "name", "id", "self_size", "edge_count"].map(at)
  const { nodes, strings } = snapshot
  const count = nodes.length / width
  const groupOf = (i) => {
    const type = types[nodes[i * width + typeAt]]
    if (!named.has(type)) return `(${type})`
    const name = strings[nodes[i * width + nameAt]]
    return `${type === "object" ? "" : `${type} `}${name.length > 80 ? `${name.slice(0, 77)}...` : name}`
  }
  const groups = new Map()
  for (let i = 0; i < count; i++) {
    const key = groupOf(i)
    const group = groups.get(key) ?? { count: 0, size: 0 }
    group.count++
    group.size += nodes[i * width + sizeAt]
    groups.set(key, group)
  }
  return { snapshot, width, typeAt, nameAt, idAt, sizeAt, edgesAt, count, groups, groupOf, types }
}

const early = load(earlyFile)
const late = load(lateFile)
const rows = []
for (const [key, b] of late.groups) {
  const a = early.groups.get(key) ?? { count: 0, size: 0 }
  rows.push({ key, count: b.count - a.count, size: b.size - a.size, lateCount: b.count, lateSize: b.size })
}
for (const [key, a] of early.groups) if (!late.groups.has(key)) rows.push({ key, count: -a.count, size: -a.size, lateCount: 0, lateSize: 0 })

const total = (heap) => [...heap.groups.values()].reduce((sum, g) => sum + g.size, 0)
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`
process.stdout.write(`self size: ${kib(total(early))} -> ${kib(total(late))} (${kib(total(late) - total(early))}); nodes ${early.count} -> ${late.count}\n`)
process.stdout.write("\nby self-size growth:\n")
for (const row of [...rows].sort((x, y) => y.size - x.size).slice(0, top)) {
  process.stdout.write(`  ${kib(row.size).padStart(10)}  ${String(row.count).padStart(8)} objects  (now ${row.lateCount}, ${kib(row.lateSize)})  ${row.key}\n`)
}
process.stdout.write("\nby count growth:\n")
for (const row of [...rows].sort((x, y) => y.count - x.count).slice(0, top)) {
  process.stdout.write(`  ${String(row.count).padStart(8)} objects  ${kib(row.size).padStart(10)}  (now ${row.lateCount})  ${row.key}\n`)
}

{
  const { snapshot, width, edgesAt, count, groupOf, idAt } = late
  const { nodes, edges, strings } = snapshot
  const edgeFields = snapshot.snapshot.meta.edge_fields
  const edgeWidth = edgeFields.length
  const edgeTypes = snapshot.snapshot.meta.edge_types[0]
  const [edgeTypeAt, edgeNameAt, toAt] = ["type", "name_or_index", "to_node"].map((name) => edgeFields.indexOf(name))
  // Reverse edges: for each node, its retainers (node index, edge label), weak edges left out.
  const retainers = Array.from({ length: count }, () => [])
  let edge = 0
  for (let i = 0; i < count; i++) {
    const n = nodes[i * width + edgesAt]
    for (let k = 0; k < n; k++, edge += edgeWidth) {
      const type = edgeTypes[edges[edge + edgeTypeAt]]
      if (type === "weak") continue
      const to = edges[edge + toAt] / width
      const label = type === "element" || type === "hidden" ? `[${edges[edge + edgeNameAt]}]` : String(strings[edges[edge + edgeNameAt]])
      retainers[to].push({ from: i, label })
    }
  }
  let earliestNew = 0
  // Synthetic and native nodes are numbered apart; JS objects get rising ids as they are allocated.
  const jsHeap = (heap, i) => !["synthetic", "native"].includes(heap.types[heap.snapshot.nodes[i * heap.width + heap.typeAt]])
  for (let i = 0; i < early.count; i++) if (jsHeap(early, i)) earliestNew = Math.max(earliestNew, early.snapshot.nodes[i * early.width + early.idAt])
  const held = new Map()
  for (let i = 0; i < count; i++) {
    if (nodes[i * width + idAt] <= earliestNew || !jsHeap(late, i)) continue
    const by = retainers[i][0]
    const key = by === undefined ? `${groupOf(i)} <- (root)` : `${groupOf(i)} <- .${by.label.slice(0, 40)} of ${groupOf(by.from)}`
    const entry = held.get(key) ?? { count: 0, size: 0 }
    entry.count++
    entry.size += nodes[i * width + late.sizeAt]
    held.set(key, entry)
  }
  process.stdout.write("\nobjects newer than the early snapshot, by first holder:\n")
  for (const [key, entry] of [...held].sort((x, y) => y[1].size - x[1].size).slice(0, top)) {
    process.stdout.write(`  ${kib(entry.size).padStart(10)}  ${String(entry.count).padStart(8)} objects  ${key}\n`)
  }
  const samples = []
  if (retainersOf !== undefined) for (let i = 0; i < count; i++) if (groupOf(i) === retainersOf) samples.push(i)
  samples.sort((x, y) => nodes[y * width + idAt] - nodes[x * width + idAt])
  for (const start of samples.slice(0, 3)) {
    process.stdout.write(`\nretainers of ${retainersOf} @${nodes[start * width + idAt]}:\n`)
    const seen = new Set([start])
    let current = start
    for (let depth = 0; depth < 25; depth++) {
      const next = retainers[current].find((r) => !seen.has(r.from))
      if (next === undefined) break
      process.stdout.write(`  <- .${next.label.slice(0, 60)} of ${groupOf(next.from)} @${nodes[next.from * width + idAt]}\n`)
      seen.add(next.from)
      current = next.from
    }
  }
}
