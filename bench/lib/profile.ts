/**
 * BENCH_PROFILE=<dir>: a CPU profile of the measured phase only (not start-up or set-up), written as
 * <dir>/<workload>.cpuprofile for Chrome DevTools or any .cpuprofile reader.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { join } from "node:path"

export interface PhaseProfile {
  readonly stop: () => Promise<void>
}

export const profilePhase = async (name: string): Promise<PhaseProfile> => {
  const dir = process.env["BENCH_PROFILE"]
  if (dir === undefined || dir === "") return { stop: async () => {} }
  const session = new Session()
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.setSamplingInterval", { interval: 200 })
  await session.post("Profiler.start")
  return {
    stop: async () => {
      const { profile } = await session.post("Profiler.stop")
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, `${name.replace(/[^a-z0-9]+/gi, "-")}.cpuprofile`), JSON.stringify(profile))
      session.disconnect()
    }
  }
}
