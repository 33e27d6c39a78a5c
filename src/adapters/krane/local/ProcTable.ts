/**
 * What the OS says about processes krane-local did not spawn in this run: liveness (a zombie counts
 * as gone), the ownership marker in a process's environment, and every process carrying a marker
 * prefix. Ownership is read from /proc/<pid>/environ, so it is verifiable on Linux only; elsewhere
 * nothing counts as ours and nothing is adopted or swept.
 */
import { readdirSync, readFileSync } from "node:fs"

/**
 * Set in every instance's environment to `<token>:<instance key>`; inherited by what it spawns. Not a
 * credential, only an id; named so that no app mistakes it for one of Berth's settings.
 */
export const MARKER_VAR = "LOCAL_INSTANCE_MARKER"
/** The name releases before the instance environment was scrubbed used: still read, so their processes are adopted. */
const LEGACY_MARKER_VAR = "BERTH_KRANE_INSTANCE"

const readText = (file: string): string | undefined => {
  try {
    return readFileSync(file, "latin1")
  } catch {
    return undefined
  }
}

/** True when /proc can tell us whose a process is. */
export const canVerifyOwnership = (): boolean => readText("/proc/self/environ") !== undefined

/** True while the pid exists and is not a zombie awaiting its parent. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: it exists, it just is not ours to signal.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  const stat = readText(`/proc/${pid}/stat`)
  if (stat === undefined) return true
  // "<pid> (<comm>) <state> ...": comm may hold spaces and parentheses, the state follows the last ")".
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
}

/** The marker in the process's environment; undefined when absent or unreadable (gone, someone else's, no /proc). */
export const markerOf = (pid: number): string | undefined => {
  const environ = readText(`/proc/${pid}/environ`)
  if (environ === undefined) return undefined
  const entries = environ.split("\0")
  for (const name of [MARKER_VAR, LEGACY_MARKER_VAR]) {
    const entry = entries.find((e) => e.startsWith(`${name}=`))
    if (entry !== undefined) return entry.slice(name.length + 1)
  }
  return undefined
}

/** Alive and started by krane-local as the instance the marker names. */
export const isOurs = (pid: number, marker: string): boolean => isAlive(pid) && markerOf(pid) === marker

/** Every live process whose marker starts with `prefix` (an instance leader or anything it spawned). */
export const processesMarked = (prefix: string): ReadonlyArray<{ readonly pid: number; readonly marker: string }> => {
  let entries: Array<string>
  try {
    entries = readdirSync("/proc")
  } catch {
    return []
  }
  const found: Array<{ pid: number; marker: string }> = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid) continue
    const marker = markerOf(pid)
    if (marker !== undefined && marker.startsWith(prefix) && isAlive(pid)) found.push({ pid, marker })
  }
  return found
}
