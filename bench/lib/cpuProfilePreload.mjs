// Preloaded into every Berth process by BENCH_BERTH_PROFILE=<dir> (NODE_OPTIONS=--import, since
// --cpu-prof is not allowed there): profiles the whole process and writes
// <dir>/<role>-<pid>.cpuprofile when it exits. The in-process inspector session answers
// synchronously, so the 'exit' handler can still stop the profiler and write the file.
import { mkdirSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { join } from "node:path"

const dir = process.env.BENCH_BERTH_PROFILE
if (dir !== undefined && dir !== "") {
  const session = new Session()
  session.connect()
  session.post("Profiler.enable")
  session.post("Profiler.setSamplingInterval", { interval: 500 })
  session.post("Profiler.start")
  const role = (process.env.BERTH_ROLE ?? process.argv.slice(2).join("-").replace(/[^a-z0-9-]+/gi, "_")) || "supervisor"
  process.on("exit", () => {
    session.post("Profiler.stop", (error, result) => {
      if (error !== null || result === undefined) return
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
