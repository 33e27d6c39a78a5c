/**
 * The pure side of partitioned ownership: the partition function (it must be nats-server's
 * `partition(n,1)`: FNV-1a 32; the int test checks it against a real server), the partitioned subject,
 * the mapping a server config needs, and the fair share each orchestrator works out alone.
 */
import { Option } from "effect"
import { describe, expect, it } from "vitest"
import { triage } from "../../src/actors/CommandIntake.js"
import { projectOfCommandSubject } from "../../src/actors/commandSubject.js"
import { assignPartitions, shareOf } from "../../src/partitions/assignment.js"
import { mappingConfig, parsePartitionedSubject, partitionOf } from "../../src/partitions/partitioning.js"

describe("partitionOf", () => {
  it.each([
    ["", 0x811c9dc5],
    ["a", 0xe40c292c],
    ["foobar", 0xbf9cf968]
  ])("is FNV-1a 32: %j hashes to %i", (text, hash) => {
    expect(partitionOf(text, 2 ** 32)).toBe(hash)
  })

  it("spreads project ids over every partition", () => {
    const counts = new Array<number>(64).fill(0)
    for (let i = 0; i < 6400; i++) {
      const p = partitionOf(`proj_${i}`, 64)
      counts[p] = (counts[p] ?? 0) + 1
    }
    expect(Math.min(...counts)).toBeGreaterThan(50)
    expect(Math.max(...counts)).toBeLessThan(150)
  })
})

describe("partitioned subjects", () => {
  it.each([
    ["berth.pcmd.0.proj_1", Option.some({ partition: 0, projectId: "proj_1" })],
    ["berth.pcmd.63.proj-x_Y", Option.some({ partition: 63, projectId: "proj-x_Y" })],
    ["berth.pcmd.07.proj_1", Option.none()],
    ["berth.pcmd.x.proj_1", Option.none()],
    ["berth.pcmd.1.a.proj_1", Option.none()],
    ["berth.pcmd.1.", Option.none()],
    ["berth.pcmd.proj_1", Option.none()],
    ["berth.cmd.proj_1", Option.none()]
  ])("%s -> %o", (subject, expected) => {
    expect(parsePartitionedSubject(subject)).toEqual(expected)
  })

  it("name the same project as the subject it was published to", () => {
    expect(projectOfCommandSubject("berth.pcmd.12.proj_1")).toEqual(Option.some("proj_1"))
    expect(projectOfCommandSubject("berth.cmd.proj_1")).toEqual(Option.some("proj_1"))
    expect(projectOfCommandSubject("berth.pcmd.12.a.proj_1")).toEqual(Option.none())
  })

  it("the server mapping rewrites berth.cmd.<project> into its partition", () => {
    expect(mappingConfig(64)).toBe('mappings {\n  "berth.cmd.*": "berth.pcmd.{{partition(64,1)}}.{{wildcard(1)}}"\n}\n')
  })
})

describe("fair share", () => {
  const members = (n: number) => Array.from({ length: n }, (_, i) => `host-${1000 + i}`)

  it.each([1, 2, 3, 5, 7, 64, 65])("%i orchestrator(s) share 64 partitions: every partition once, floor or ceil each", (n) => {
    const assigned = assignPartitions(members(n), 64)
    expect([...assigned.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i))
    const counts = new Map<string, number>()
    for (const owner of assigned.values()) counts.set(owner, (counts.get(owner) ?? 0) + 1)
    for (const member of members(n)) {
      const count = counts.get(member) ?? 0
      expect(count === Math.floor(64 / n) || count === Math.ceil(64 / n)).toBe(true)
    }
  })

  it("every member works out the same answer, whatever order it saw the others in", () => {
    const forward = assignPartitions(members(3), 64)
    const backward = assignPartitions([...members(3)].reverse(), 64)
    expect([...backward]).toEqual([...forward])
    const shares = members(3).map((member) => shareOf(member, members(3), 64))
    expect(shares.reduce((total, share) => total + share.size, 0)).toBe(64)
  })

  it("a member joining takes its share and moves few of the others' partitions", () => {
    const before = assignPartitions(members(2), 64)
    const after = assignPartitions(members(3), 64)
    const joined = members(3)[2] ?? ""
    let movedBetweenOld = 0
    for (const [partition, owner] of after) if (owner !== joined && before.get(partition) !== owner) movedBetweenOld++
    expect(shareOf(joined, members(3), 64).size).toBeGreaterThanOrEqual(21)
    expect(movedBetweenOld).toBeLessThanOrEqual(8)
  })
})

describe("a partitioned command subject", () => {
  it("must name the project's own partition: another is dead-lettered", () => {
    const own = partitionOf("proj_1", 64)
    const command = JSON.stringify({ type: "CreateProject", commandId: "cmd_1", projectId: "proj_1" })
    expect(triage(`berth.pcmd.${own}.proj_1`, command, 64)._tag).not.toBe("DeadLetter")
    expect(triage(`berth.pcmd.${(own + 1) % 64}.proj_1`, command, 64)).toEqual({
      _tag: "DeadLetter",
      reason: "subject-mismatch",
      message: `subject berth.pcmd.${(own + 1) % 64}.proj_1 is not berth.pcmd.<the project's partition>.<projectId>`
    })
  })
})
