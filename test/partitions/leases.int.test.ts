/**
 * Partition leases on a real nats-server (the KV bucket's max_age is the TTL): members racing for one
 * lease, the fair share and a hand-over without a gap, and a member that stops renewing (cut off from
 * NATS) stopping to decide before anyone else starts. Sampled every few milliseconds: no partition is
 * ever held by two members at once.
 */
import { Kvm } from "@nats-io/kv"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Duration, Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makePartitionLeases, type PartitionLeases } from "../../src/partitions/Leases.js"
import { startTestNats, type TestNats } from "../support/servers.js"

let nats: TestNats
beforeAll(async () => {
  nats = await startTestNats()
})
afterAll(async () => {
  await nats?.stop()
})

const ttl = Duration.seconds(2)

interface Member {
  readonly name: string
  readonly leases: PartitionLeases
  readonly nc: NatsConnection
  /** What the handlers were told, in order. */
  readonly told: Array<{ readonly what: "acquired" | "releasing" | "lost"; readonly partitions: ReadonlyArray<number>; readonly at: number }>
  readonly owned: () => ReadonlyArray<number>
  /** Leaves gracefully (hands its partitions over). */
  readonly stop: () => Promise<void>
}

const startMember = async (bucket: string, name: string, partitions: number, lostTakes = Duration.zero): Promise<Member> => {
  const nc = await connect({ servers: nats.url })
  const kv = await new Kvm(nc).create(bucket, { history: 1, ttl: Duration.toMillis(ttl) })
  const leases = makePartitionLeases({ kv, instance: name, partitions, ttl })
  const told: Member["told"] = []
  const note = (what: "acquired" | "releasing" | "lost") => (ps: ReadonlyArray<number>) =>
    Effect.sync(() => void told.push({ what, partitions: ps, at: performance.now() }))
  const scope = Effect.runSync(Scope.make())
  const lost = (ps: ReadonlyArray<number>) => Effect.zipRight(note("lost")(ps), Effect.sleep(lostTakes))
  await Effect.runPromise(Scope.extend(leases.run({ acquired: note("acquired"), releasing: note("releasing"), lost }), scope))
  const owned = () => Array.from({ length: partitions }, (_, p) => p).filter(leases.holds)
  return {
    name,
    leases,
    nc,
    told,
    owned,
    stop: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await nc.close()
    }
  }
}

/** Samples who holds what every 5 ms until `until` holds (or the deadline), failing on any overlap. */
const watchOwners = async (members: ReadonlyArray<Member>, partitions: number, until: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    for (let p = 0; p < partitions; p++) {
      const holders = members.filter((member) => member.leases.holds(p)).map((member) => member.name)
      if (holders.length > 1) throw new Error(`partition ${p} held by ${holders.join(" and ")} at once`)
    }
    if (until()) return
    if (Date.now() > deadline) throw new Error(`not settled in ${timeoutMs} ms: ${members.map((m) => `${m.name} holds [${m.owned().join(",")}]`).join("; ")}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe("partition leases", () => {
  it("five orchestrators race for one lease: exactly one wins, and keeps it", async () => {
    const members = await Promise.all(["a", "b", "c", "d", "e"].map((name) => startMember("race_leases", name, 1)))
    try {
      await watchOwners(members, 1, () => members.some((member) => member.owned().length === 1), 5_000)
      // Renewals keep it where it is for several TTLs; nobody else ever holds it.
      const winner = members.find((member) => member.owned().length === 1)
      await watchOwners(members, 1, () => false, 5_000).catch((error: Error) => {
        if (!error.message.startsWith("not settled")) throw error
      })
      expect(members.filter((member) => member.owned().length === 1).map((member) => member.name)).toEqual([winner?.name])
      expect(members.flatMap((member) => member.told.filter((t) => t.what === "lost"))).toEqual([])
    } finally {
      await Promise.all(members.map((member) => member.stop()))
    }
  })

  it("members share the partitions fairly, and one leaving hands its share over without a gap", async () => {
    const partitions = 12
    const members = [await startMember("share_leases", "a", partitions)]
    await watchOwners(members, partitions, () => members[0]?.owned().length === partitions, 5_000)
    members.push(await startMember("share_leases", "b", partitions), await startMember("share_leases", "c", partitions))
    try {
      await watchOwners(members, partitions, () => members.every((member) => member.owned().length === 4), 10_000)
      const leaving = members[2]
      if (leaving === undefined) throw new Error("no member c")
      const stayed = members.slice(0, 2)
      const started = performance.now()
      const stopped = leaving.stop()
      await watchOwners(stayed, partitions, () => stayed.every((member) => member.owned().length === 6), 5_000)
      const handedOverMs = performance.now() - started
      await stopped
      // Well before its leases could have lapsed: the next owners took them at the release.
      expect(handedOverMs).toBeLessThan(Duration.toMillis(ttl) / 2)
      expect(leaving.told.map((t) => t.what)).toContain("releasing")
      expect(leaving.told.map((t) => t.what)).not.toContain("lost")
    } finally {
      await Promise.all(members.slice(0, 2).map((member) => member.stop()))
    }
  })

  it("a member frozen past its lease stops deciding at once when it wakes, and takes its partitions back only after stopping them", async () => {
    const partitions = 2
    // Stopping a lost partition takes a while (its actors drain): taking it back must wait for that.
    const a = await startMember("frozen_leases", "a", partitions, Duration.millis(500))
    try {
      await watchOwners([a], partitions, () => a.owned().length === partitions, 5_000)
      // The whole process frozen (a long GC, SIGSTOP) past the TTL: no renewal, no timer.
      const until = Date.now() + Duration.toMillis(ttl) + 600
      while (Date.now() < until) {
        // busy: the event loop is blocked
      }
      expect(a.owned()).toEqual([])
      await watchOwners([a], partitions, () => a.owned().length === partitions, 10_000)
      const order = a.told.map((t) => t.what)
      expect(order.slice(-2)).toEqual(["lost", "acquired"])
      const lost = a.told.findLast((t) => t.what === "lost")
      const taken = a.told.findLast((t) => t.what === "acquired")
      expect((taken?.at ?? 0) - (lost?.at ?? 0)).toBeGreaterThanOrEqual(500)
    } finally {
      await a.stop()
    }
  })

  it("a member cut off from NATS stops deciding before another takes its partitions, within the TTL", async () => {
    const partitions = 4
    const a = await startMember("cut_leases", "a", partitions)
    await watchOwners([a], partitions, () => a.owned().length === partitions, 5_000)
    const b = await startMember("cut_leases", "b", partitions)
    try {
      await watchOwners([a, b], partitions, () => a.owned().length === 2 && b.owned().length === 2, 10_000)
      const cut = performance.now()
      await a.nc.close()
      await watchOwners([a, b], partitions, () => b.owned().length === partitions, 10_000)
      const takenMs = performance.now() - cut
      const lost = a.told.find((t) => t.what === "lost")
      const taken = b.told.filter((t) => t.what === "acquired").at(-1)
      expect(lost).toBeDefined()
      expect(taken).toBeDefined()
      // a gave up before b started; b had them all within the TTL plus a renewal period of the cut.
      expect((lost?.at ?? Infinity) < (taken?.at ?? 0)).toBe(true)
      expect(takenMs).toBeLessThan(Duration.toMillis(ttl) * 1.5)
    } finally {
      await b.stop()
      await a.stop().catch(() => undefined)
    }
  })
})
