/**
 * BENCH_PROFILE=<dir>: a CPU profile of the measured phase only (not start-up or set-up), written as
 * <dir>/<workload>.cpuprofile for Chrome DevTools or any .cpuprofile reader.
 * BENCH_HEAP_PROFILE=<dir>: instead, a sampling profile of every allocation made in the phase (those
 * collected since included: what the garbage collector had to clean up), as <dir>/<workload>.heapprofile.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { join } from "node:path"

export interface PhaseProfile {
  readonly stop: () => Promise<void>
}

const fileName = (name: string, extension: string) => `${name.replace(/[^a-z0-9]+/gi, "-")}.${extension}`

export const profilePhase = async (name: string): Promise<PhaseProfile> => {
  const heapDir = process.env["BENCH_HEAP_PROFILE"]
  if (heapDir !== undefined && heapDir !== "") {
    const session = new Session()
    session.connect()
    await session.post("HeapProfiler.enable")
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 16 * 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true
    })
    return {
      stop: async () => {
        const { profile } = await session.post("HeapProfiler.stopSampling")
        mkdirSync(heapDir, { recursive: true })
        writeFileSync(join(heapDir, fileName(name, "heapprofile")), JSON.stringify(profile))
        session.disconnect()
      }
    }
  }
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
      writeFileSync(join(dir, fileName(name, "cpuprofile")), JSON.stringify(profile))
      session.disconnect()
    }
  }
}
