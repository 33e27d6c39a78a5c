/**
 * Partitioned project ownership, the pure part: which partition a project is in, the subject a
 * partitioned server stores its commands on, and the nats-server mapping that does it.
 *
 * Publishers keep publishing `berth.cmd.<projectId>`. A nats-server configured with
 * `mappings { "berth.cmd.*": "berth.pcmd.{{partition(N,1)}}.{{wildcard(1)}}" }` (2.9.10 has it)
 * rewrites each command, before any stream sees it, to `berth.pcmd.<partition>.<projectId>`; the
 * partition is FNV-1a (32 bit) of the project id modulo N — the same function as `partitionOf`, so an
 * orchestrator knows, without asking, which projects a partition holds (to wake their in-flight
 * deployments, and to refuse deciding for a project whose partition it does not own).
 * Without the mapping (a stock server) nothing is rewritten and Berth runs unpartitioned, as before.
 */
import { Option } from "effect"
import { subjects } from "../nats/subjects.js"

/** nats-server's `partition(n, …)`: FNV-1a 32 of the token's bytes, modulo n. */
export const partitionOf = (projectId: string, partitions: number): number => {
  let hash = 0x811c9dc5
  const bytes = new TextEncoder().encode(projectId)
  for (const byte of bytes) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash % partitions
}

/** The mapping's source and destination (Berth's own server config, `berth nats config`, the README). */
export const partitionMapping = (partitions: number) => ({
  source: subjects.command("*"),
  destination: subjects.partitionedCommand(`{{partition(${partitions},1)}}`, "{{wildcard(1)}}")
})

/** The `mappings` block for a nats-server config (top level: the global account; in `accounts`, per account). */
export const mappingConfig = (partitions: number): string => {
  const { source, destination } = partitionMapping(partitions)
  return `mappings {\n  ${JSON.stringify(source)}: ${JSON.stringify(destination)}\n}\n`
}

const partitionedPrefix = "berth.pcmd."

/** `berth.pcmd.<partition>.<projectId>` -> its parts; none for any other subject. */
export const parsePartitionedSubject = (subject: string): Option.Option<{ readonly partition: number; readonly projectId: string }> => {
  if (!subject.startsWith(partitionedPrefix)) return Option.none()
  const rest = subject.slice(partitionedPrefix.length)
  const dot = rest.indexOf(".")
  if (dot <= 0) return Option.none()
  const partition = rest.slice(0, dot)
  const projectId = rest.slice(dot + 1)
  return /^(0|[1-9][0-9]{0,5})$/.test(partition) && projectId !== "" && !projectId.includes(".")
    ? Option.some({ partition: Number(partition), projectId })
    : Option.none()
}
