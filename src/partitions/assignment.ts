/**
 * Who should own which partition, given the orchestrators alive: every member works it out alone from
 * the same member list and gets the same answer, so no coordinator is needed. Fair: each member gets
 * floor or ceil of partitions / members. Stable: a partition goes to the member ranking it highest
 * (rendezvous hashing) that still has room, so a member joining or leaving moves few partitions besides
 * its own share. The leases (Leases.ts) make the answer safe: a member only decides for the partitions
 * whose lease it holds, whatever it believes it should own. Pure.
 */
import { partitionOf } from "./partitioning.js"

/** The rank of `member` for `partition` (FNV-1a of both, spread to a 32-bit score). */
const score = (member: string, partition: number): number => partitionOf(`${member}/${partition}`, 0x7fffffff)

/** partition -> member, for partitions 0 … partitions-1 (members in any order; empty -> empty). */
export const assignPartitions = (members: ReadonlyArray<string>, partitions: number): ReadonlyMap<number, string> => {
  const assigned = new Map<number, string>()
  const sorted = [...new Set(members)].sort()
  if (sorted.length === 0) return assigned
  const capacity = Math.ceil(partitions / sorted.length)
  // Members taking ceil shares: the first `partitions % n` in rank order get one more than the rest.
  const larger = partitions % sorted.length
  const limit = (index: number) => (larger === 0 || index < larger ? capacity : capacity - 1)
  const counts = new Map<string, number>()
  const byRank = sorted.map((member, index) => ({ member, limit: limit(index) }))
  for (let partition = 0; partition < partitions; partition++) {
    const ranked = [...byRank].sort((a, b) => score(b.member, partition) - score(a.member, partition) || a.member.localeCompare(b.member))
    const chosen = ranked.find((candidate) => (counts.get(candidate.member) ?? 0) < candidate.limit) ?? ranked[0]
    if (chosen === undefined) continue
    assigned.set(partition, chosen.member)
    counts.set(chosen.member, (counts.get(chosen.member) ?? 0) + 1)
  }
  return assigned
}

/** The partitions `member` should own. */
export const shareOf = (member: string, members: ReadonlyArray<string>, partitions: number): ReadonlySet<number> => {
  const share = new Set<number>()
  for (const [partition, owner] of assignPartitions([...members, member], partitions)) if (owner === member) share.add(partition)
  return share
}
