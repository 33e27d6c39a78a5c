/**
 * The chaos suite, CI-sized: a small storm (2 projects, 3 deploys each, 4 rollbacks/promotes/cancels)
 * under every fault kind at once — kill -9 of the orchestrator, kill -9 of nats-server, PostgreSQL
 * crashed, Krane answering 5xx and hanging — for rounds 1-2 of a fixed seed and round 1 of a random
 * seed (printed), on one cluster. After each round every invariant must hold; a failure prints the
 * table, each failed invariant's diff and the `npm run chaos` command that runs the round again.
 * The full suite (20 rounds, larger storms) is `npm run chaos`.
 */
import { randomInt } from "node:crypto"
import { Kvm } from "@nats-io/kv"
import { Effect } from "effect"
import postgres from "postgres"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ChaosReport, formatReport, runChaos } from "./chaos.js"
import { type Cluster, startCluster } from "./cluster.js"
import { buckets } from "../../src/nats/subjects.js"
import { checkKrane, checkReadModel, checkRoutes } from "./invariants.js"
import { foldAll, readLog } from "./log.js"
import { ciStorm } from "./plan.js"
import { connectPublisher } from "./round.js"

const fixedSeed = 20261206
const randomSeed = randomInt(1, 1_000_000)

let cluster: Cluster

beforeAll(async () => {
  cluster = await startCluster()
}, 120_000)
afterAll(async () => {
  await cluster?.close()
})

const explain = (report: ChaosReport): string =>
  formatReport(report, (round) => `npm run chaos -- --seed ${report.seed} --round ${round} --small`)

const run = async (seed: number, rounds: ReadonlyArray<number>) => {
  const report = await runChaos({ seed, rounds, size: ciStorm, cluster, quiesceTimeoutMs: 90_000 })
  console.log(explain(report))
  return report
}

describe("chaos (CI-sized)", () => {
  it(`keeps every invariant through rounds 1-2 of seed ${fixedSeed}`, async () => {
    const report = await run(fixedSeed, [1, 2])
    expect(report.results.flatMap((r) => r.faults.filter((f) => f.error !== undefined).map((f) => `${f.fault.kind}: ${f.error}`))).toEqual([])
    expect(report.ok, explain(report)).toBe(true)
  }, 240_000)

  it(`keeps every invariant through round 1 of a random seed (${randomSeed})`, async () => {
    console.log(`chaos: random seed ${randomSeed}`)
    const report = await run(randomSeed, [1])
    expect(report.ok, explain(report)).toBe(true)
  }, 180_000)

  it("the checks see what a broken Berth would leave: an orphan in Krane, a wrong read-model row, a lost route", async () => {
    const publisher = await connectPublisher(cluster.natsUrl)
    const sql = postgres(cluster.databaseUrl, { onnotice: () => {}, max: 1 })
    try {
      const log = await readLog(publisher.js, publisher.jsm)
      const states = foldAll(log)
      const [projectId, state] = [...states].find(([, s]) => Object.keys(s.routes).length > 0) ?? []
      expect(projectId, "a round left a project with routes").toBeDefined()
      if (projectId === undefined || state === undefined) return

      await Effect.runPromise(
        cluster.krane.krane.service.createDeployment({ namespace: "chaos", deploymentId: "dep_orphan", replicas: 1, cpuMillicores: 100, memorySizeMib: 128 })
      )
      const krane = checkKrane(log, states, cluster.krane.krane)
      expect(krane.ok).toBe(false)
      expect(krane.diff).toContain("Krane holds chaos/dep_orphan, which no log requested")
      await Effect.runPromise(cluster.krane.krane.service.deleteDeployment("chaos", "dep_orphan"))

      const [row] = await sql<Array<{ project_id: string; deployment_id: string; status: string }>>`
        select project_id, deployment_id, status from deployments order by project_id, deployment_id limit 1`
      expect(row).toBeDefined()
      if (row === undefined) return
      await sql`update deployments set status = 'building' where project_id = ${row.project_id} and deployment_id = ${row.deployment_id}`
      const readModel = await checkReadModel({ natsUrl: cluster.natsUrl, pgAdminUrl: cluster.pgAdminUrl, databaseUrl: cluster.databaseUrl, lastSeq: log.lastSeq })
      await sql`update deployments set status = ${row.status} where project_id = ${row.project_id} and deployment_id = ${row.deployment_id}`
      expect(readModel.ok).toBe(false)
      // Rows are keyed by (project, deployment): deployment ids are unique only within a project.
      expect(readModel.diff).toContain(`deployments ${row.project_id}/${row.deployment_id}: status read model "building" / replay "${row.status}"`)

      const kv = await new Kvm(publisher.nc).open(buckets.routes)
      const stored = await kv.get(projectId)
      const original = stored?.string() ?? ""
      const table = JSON.parse(original) as { routes: Record<string, { deploymentId: string }> }
      const hostname = Object.keys(table.routes)[0] ?? ""
      const moved = { ...table, routes: { ...table.routes, [hostname]: { ...table.routes[hostname], deploymentId: "dep_elsewhere" } } }
      await kv.put(projectId, JSON.stringify(moved))
      const routes = await checkRoutes(publisher.nc, states)
      await kv.put(projectId, original)
      expect(routes.ok).toBe(false)
      expect(routes.diff).toContain(`${projectId} ${hostname}: KV routes it to {"deploymentId":"dep_elsewhere"`)
    } finally {
      await sql.end()
      await publisher.close()
    }
  }, 120_000)
})
