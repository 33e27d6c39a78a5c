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
  /** Resident MiB by kind of mapping (/proc/self/smaps): malloc's [heap], anonymous (V8's heap, code, big mallocs), files. */
  const residentByKind = () => {
    const kinds = {}
    let kind = "anon"
    for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
      const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
      if (header !== null) {
        const name = header[1] ?? ""
        kind = name === "" ? "anon" : name.startsWith("[") ? name : "files"
        continue
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line)
      if (rss !== null) kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]) / 1024
    }
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
