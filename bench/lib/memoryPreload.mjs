// Preloaded into every Berth process by BENCH_BERTH_MEMORY=<dir> (NODE_OPTIONS=--import, as
// cpuProfilePreload.mjs): on SIGUSR2 the process collects garbage and writes
// <dir>/<role>-<pid>-<n>.json (process.memoryUsage() after the collection: the live heap, not what the
// collector has not reached yet), and, with BENCH_BERTH_HEAPSNAP set, <dir>/<role>-<pid>-<n>.heapsnapshot
// first, so two points of a run can be compared (`node bench/lib/heapDiff.mjs a b`). The JSON is renamed
// into place last: once it exists, the snapshot is complete.
import { readFileSync, renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { setFlagsFromString, writeHeapSnapshot } from "node:v8"
import { runInNewContext } from "node:vm"

const dir = process.env.BENCH_BERTH_MEMORY
if (dir !== undefined && dir !== "") {
  setFlagsFromString("--expose-gc")
  const gc = runInNewContext("gc")
  const role = (process.env.BERTH_ROLE ?? process.argv.slice(2).join("-").replace(/[^a-z0-9-]+/gi, "_")) || "supervisor"
  let n = 0
  const arenaSize = 64n * 1024n * 1024n
  /**
   * Resident MiB by kind of mapping (/proc/self/smaps): malloc's main [heap] and its per-thread arenas,
   * other anonymous memory (V8's heap and code, large mallocs), files.
   */
  const residentByKind = () => {
    const kinds = {}
    const mappings = []
    let kind = "anon"
    let current
    for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
      const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
      if (header !== null) {
        const name = header[3] ?? ""
        const start = BigInt(`0x${header[1]}`)
        const size = BigInt(`0x${header[2]}`) - start
        // glibc's per-thread malloc arenas start on a 64 MiB boundary and are at most 64 MiB long.
        const arena = start % arenaSize === 0n && size <= arenaSize
        kind = name === "" ? (arena ? "arenas" : "anon") : name.startsWith("[") ? name : "files"
        current = { start: header[1], sizeMiB: Number(size) / 2 ** 20, kind }
        continue
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line)
      if (rss !== null) {
        kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]) / 1024
        if (kind === "anon" || kind === "arenas") mappings.push({ ...current, rssMiB: Number(rss[1]) / 1024 })
      }
    }
    kinds.largest = mappings.sort((a, b) => b.rssMiB - a.rssMiB).slice(0, 20)
    return kinds
  }
  process.on("SIGUSR2", () => {
    n++
    const base = join(dir, `${role}-${process.pid}-${n}`)
    gc()
    if ((process.env.BENCH_BERTH_HEAPSNAP ?? "") !== "") writeHeapSnapshot(`${base}.heapsnapshot`)
    writeFileSync(`${base}.tmp`, JSON.stringify({ role, pid: process.pid, n, ...process.memoryUsage(), residentMiB: residentByKind() }))
    renameSync(`${base}.tmp`, `${base}.json`)
  })
}
