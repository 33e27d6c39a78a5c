/**
 * The set-based projector folds a whole batch in memory: a long mixed history (several projects,
 * deployments that go live, fail, are cancelled, compensated, rolled back and promoted, events for
 * unknown deployments, steps starting and ending in the same envelope) projected in ONE batch gives
 * exactly the rows that batches of one message (or of a few, pipelined) give, in every table, and the
 * rows the former statement-per-effect implementation (reference.ts) gives.
 */
import { Effect, Either, Schema } from "effect"
import postgres from "postgres"
import { describe, expect, it } from "vitest"
import { EventEnvelope, type ProjectEvent, type StepName } from "../../src/domain/events.js"
import { streams } from "../../src/nats/subjects.js"
import { migrateWith } from "../../src/projections/migrate.js"
import type { ProjectorOptions } from "../../src/projections/Projector.js"
import { readModelTables } from "../../src/projections/readModel.js"
import { dumpReadModel, startProjector, useProjectorFixture, waitForSeq } from "../support/projectorFixture.js"
import { freshDatabase } from "../support/servers.js"
import { envelopeStatements } from "./reference.js"
import { history, lifecycle, projectId as shopId, publishRaw, publishSteps, putSpec, specObjectName, specText, type Step, t0 } from "./scenario.js"

const fx = useProjectorFixture("batch")

/** Projects the whole stream into a fresh database with `options`; returns every table's rows. */
const projectAll = async (options: ProjectorOptions, last: number) => {
  const dbUrl = await freshDatabase("batch")
  const rt = startProjector(fx, options, dbUrl)
  try {
    await waitForSeq(rt, last, "60 seconds")
  } finally {
    await rt.dispose()
  }
  const sql = postgres(dbUrl, { onnotice: () => {} })
  try {
    return await dumpReadModel(sql)
  } finally {
    await sql.end()
  }
}

/**
 * The oracle: the former implementation, one statement per effect, one transaction per envelope, read
 * straight off the stream (audit rows are not written: that code did not change).
 */
const projectWithReference = async (last: number) => {
  const sql = postgres(await freshDatabase("ref"), { onnotice: () => {} })
  try {
    await Effect.runPromise(migrateWith(sql))
    const specs = (objectName: string) => (objectName === specObjectName ? new TextEncoder().encode(specText) : null)
    const consumer = await fx.js.consumers.get(streams.events)
    const messages = await consumer.consume()
    for await (const m of messages) {
      const decoded = Schema.decodeUnknownEither(EventEnvelope)((() => {
        try {
          return JSON.parse(m.string())
        } catch {
          return null
        }
      })())
      if (Either.isRight(decoded)) {
        const applied = { streamSeq: m.seq, envelope: decoded.right }
        await sql.begin(async (tx) => {
          for (const statement of envelopeStatements(tx, applied, specs)) await statement
        })
      }
      if (m.seq >= last) break
    }
    await messages.close()
    return await dumpReadModel(sql)
  } finally {
    await sql.end()
  }
}

/** A deterministic pseudo-random sequence (LCG). */
const random = (seed: number) => {
  let state = seed
  return (n: number): number => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
    return state % n
  }
}

/** A long, mixed, mostly realistic history of one project, with some odd orders thrown in. */
const mixedHistory = (projectId: string, seed: number, deployments: number): Array<Array<ProjectEvent>> => {
  const pick = random(seed)
  const envelopes: Array<Array<ProjectEvent>> = []
  const host = (name: string) => `${name}-${projectId}.berth.test`
  const liveHost = host("live")
  const sharedHost = "shared.berth.test" // contended by every project
  envelopes.push([{
    type: "ProjectCreated",
    projectId,
    workspace: "acme",
    slug: projectId,
    apexDomain: "berth.test",
    defaultBranch: "main",
    environments: [{ id: "env_prod", slug: "production", kind: "production" }, { id: "env_prev", slug: "preview", kind: "preview" }]
  }])
  const live: Array<string> = []
  for (let d = 0; d < deployments; d++) {
    const id = `${projectId}_d${d}`
    const replicas = 1 + pick(2)
    const env = pick(3) === 0 ? "env_prev" : "env_prod"
    const instances = (status: "RUNNING" | "PENDING", n: number) =>
      Array.from({ length: n }, (_, i) => ({ id: `${id}-i${i}`, address: `10.${d}.0.${i}:8080`, status }))
    const ending = pick(6) // 0: fails, 1: cancelled, otherwise goes live
    const failAt = pick(4)
    const steps: Array<Array<ProjectEvent>> = [
      [
        {
          type: "DeploymentRequested",
          deploymentId: id,
          environmentId: env,
          source: { image: `registry.local/${id}` },
          ...(pick(2) === 0 ? { git: { sha: `sha${d}`, branch: "main", message: `"quoted" \\ ${d}` } } : {}),
          replicas,
          port: 8080,
          cpuMillicores: 100,
          memorySizeMib: 128,
          env: {}
        },
        { type: "DeploymentBuilding", deploymentId: id }
      ],
      [{ type: "KraneDeploymentCreated", deploymentId: id, namespace: "acme", readyDeadlineAt: t0 }],
      [{ type: "InstancesObserved", deploymentId: id, instances: instances("PENDING", 1) }],
      [{ type: "InstancesObserved", deploymentId: id, instances: instances("RUNNING", replicas) }],
      [
        pick(3) === 0
          ? { type: "OpenApiSpecCaptured", deploymentId: id, path: "/openapi.yaml", objectName: pick(2) === 0 ? specObjectName : `${id}/missing`, sizeBytes: 5, sha256: "ab" }
          : { type: "OpenApiSpecNotFound", deploymentId: id, path: "/openapi.yaml", reason: "404" }
      ],
      [
        {
          type: "DomainsAssigned",
          deploymentId: id,
          domains: [
            { hostname: host(id), sticky: "deployment" },
            { hostname: liveHost, sticky: "live" },
            { hostname: sharedHost, sticky: "none" },
            { hostname: host(id), sticky: "branch" } // the same hostname twice: the later wins
          ],
          withheld: [],
          routeRevision: d
        },
        { type: "DeploymentReady", deploymentId: id },
        { type: "LiveSwitched", from: live[live.length - 1] ?? null, to: id, reason: "deploy" }
      ]
    ]
    if (ending === 0) {
      const step: StepName = (["krane-create", "await-instances", "scrape-openapi", "assign-domains"] as const)[failAt] ?? "build"
      envelopes.push(...steps.slice(0, failAt + 1))
      envelopes.push([{ type: "DeploymentFailed", deploymentId: id, step, reason: `failed at ${step}` }])
      envelopes.push([{
        type: "DeploymentCompensated",
        deploymentId: id,
        kraneDeleted: pick(2) === 0,
        releasedDomains: [host(id), liveHost, sharedHost],
        ...(pick(2) === 0 ? { problem: "could not delete" } : {})
      }])
    } else if (ending === 1) {
      const at = failAt + 1
      envelopes.push(...steps.slice(0, at))
      const step: StepName = (["krane-create", "await-instances", "scrape-openapi", "assign-domains", "go-live"] as const)[failAt] ?? "build"
      // Cancelled and compensated in one envelope half of the time.
      const cancel: ProjectEvent = { type: "DeploymentCancelled", deploymentId: id, step, commandId: `cmd_cancel_${id}` }
      const compensated: ProjectEvent = { type: "DeploymentCompensated", deploymentId: id, kraneDeleted: true, releasedDomains: [host(id)] }
      if (pick(2) === 0) envelopes.push([cancel, compensated])
      else envelopes.push([cancel], [compensated])
    } else {
      // Sometimes a whole deployment in one envelope (steps start and end at once).
      if (pick(4) === 0) envelopes.push(steps.flat())
      else envelopes.push(...steps)
      live.push(id)
    }
    const previous = live[live.length - 2]
    const current = live[live.length - 1]
    if (previous !== undefined && current !== undefined && pick(4) === 0) {
      const moved = [{ hostname: liveHost, sticky: "live" as const }, { hostname: host("ghost"), sticky: "live" as const }]
      envelopes.push([
        { type: "DomainsSwitched", toDeploymentId: previous, domains: moved, reason: "rollback", routeRevision: 100 + d },
        { type: "LiveSwitched", from: current, to: previous, reason: "rollback" }
      ])
      if (pick(2) === 0) envelopes.push([{ type: "RollbackCleared", deploymentId: previous }])
      else {
        envelopes.push([
          { type: "DomainsSwitched", toDeploymentId: current, domains: moved, reason: "promote", routeRevision: 200 + d },
          { type: "LiveSwitched", from: previous, to: current, reason: "promote" },
          { type: "LiveSwitched", from: current, to: current, reason: "promote" } // same envelope: its history row is kept once
        ])
      }
    }
    if (pick(5) === 0) {
      envelopes.push([
        { type: "DeploymentReady", deploymentId: `${projectId}_ghost` },
        { type: "InstancesObserved", deploymentId: id, instances: [] },
        { type: "DomainsAssigned", deploymentId: `${projectId}_ghost`, domains: [{ hostname: host("ghost"), sticky: "none" }], withheld: [], routeRevision: 0 },
        { type: "CommandRejected", commandId: `cmd_x${d}`, commandType: "Deploy", code: "NOT_FOUND", message: "nope" }
      ])
    }
  }
  // Created again: ignored, but its environments are upserted.
  envelopes.push([{
    type: "ProjectCreated",
    projectId,
    workspace: "other",
    slug: "again",
    apexDomain: "x.test",
    defaultBranch: "dev",
    environments: [{ id: "env_prev", slug: "preview-2", kind: "preview" }]
  }])
  return envelopes
}

describe("Projector batching", () => {
  it("gives identical rows in every table for one big batch, for batches of one or a few, and as the former projector", async () => {
    await putSpec(fx.js)

    // The hand-made history of proj_shop, then four generated projects interleaved envelope by envelope.
    const shop = await publishSteps(fx.js, [...history, ...lifecycle])
    const generated = [0, 1, 2, 3].map((p) => ({ projectId: `proj_${p}`, envelopes: mixedHistory(`proj_${p}`, 17 + p, 40), previous: 0 }))
    let at = t0 + 100_000
    let last = shop[shop.length - 1] ?? 0
    for (let round = 0; generated.some((g) => g.envelopes.length > 0); round++) {
      for (const g of generated) {
        const events = g.envelopes.shift()
        if (events === undefined) continue
        const step: Step = { at: (at += 1000), commandId: round % 3 === 0 ? `cmd_${g.projectId}_${round}` : null, events }
        const [seq] = await publishSteps(fx.js, [step], g.previous, g.projectId)
        g.previous = seq ?? g.previous
        last = seq ?? last
      }
      if (round === 7) last = await publishRaw(fx.js, "not an envelope")
    }
    // And an event for a project whose envelope came after: nothing to update.
    last = (await publishSteps(fx.js, [{ at: at + 1000, commandId: null, events: [{ type: "RollbackCleared", deploymentId: "x" }] }], 0, "proj_none"))[0] ?? last
    expect(last).toBeGreaterThan(400)
    expect(last).toBeLessThan(100_000 / 8)

    // Far fewer messages than a session's first batch may hold (maxBatch / 8): all of them in one batch.
    const oneBatch = await projectAll({ maxBatch: 100_000, batchWindow: "3 seconds" }, last)
    const single = await projectAll({ maxBatch: 1 }, last)
    // Batches of a few messages: folded while the one before commits, over the rows it left in memory.
    const pipelined = await projectAll({ maxBatch: 7 }, last)
    for (const table of readModelTables) expect(oneBatch[table], table).toEqual(single[table])
    for (const table of readModelTables) expect(pipelined[table], table).toEqual(single[table])
    // And both are what the former statement-per-effect projector gave.
    const reference = await projectWithReference(last)
    for (const table of readModelTables.filter((t) => t !== "audit_events")) expect(oneBatch[table], table).toEqual(reference[table])
    expect(oneBatch["audit_events"]).toHaveLength(single["audit_events"]?.length ?? -1)
    // The history exercised every table.
    for (const table of readModelTables) expect(oneBatch[table]?.length, table).toBeGreaterThan(0)
    expect(oneBatch["projects"]?.find((p) => p["project_id"] === shopId)?.["version"]).toBe(String(shop[shop.length - 1]))
  }, 120_000)
})
