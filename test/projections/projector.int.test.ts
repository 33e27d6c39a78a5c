/**
 * The projector against a real nats-server and PostgreSQL: every table filled from a hand-made
 * history, exactly-once across restarts, undecodable messages skipped, rebuild reproducing the rows.
 */
import { Effect } from "effect"
import postgres from "postgres"
import { describe, expect, it } from "vitest"
import { Projector, type ProjectorOptions } from "../../src/projections/Projector.js"
import { dumpReadModel, startProjector, useProjectorFixture, waitForSeq } from "../support/projectorFixture.js"
import { freshDatabase } from "../support/servers.js"
import { eventCount, history, projectId, publishRaw, publishSteps, putSpec, specText, t0 } from "./scenario.js"

const fx = useProjectorFixture("proj")

const start = (options: ProjectorOptions = {}) => startProjector(fx, options)

const checkpoint = async (): Promise<number> => {
  const rows = await fx.sql<Array<{ stream_seq: string }>>`select stream_seq::text from projection_checkpoints where name = 'read_model'`
  return Number(rows[0]?.stream_seq ?? -1)
}

describe("Projector", () => {
  it("projects every event into the read model", async () => {
    await putSpec(fx.js)
    const seqs = await publishSteps(fx.js, history)
    const last = seqs[seqs.length - 1] ?? 0
    const rt = start()
    const started = Date.now()
    await waitForSeq(rt, last)
    console.log(`projected ${seqs.length} envelopes (${eventCount} events) in ${Date.now() - started} ms`)
    await rt.dispose()

    expect(await checkpoint()).toBe(last)
    const [project] = await fx.sql`select * from projects`
    expect(project).toMatchObject({
      project_id: projectId,
      workspace: "acme",
      slug: "shop",
      apex_domain: "berth.localhost",
      default_branch: "main",
      live_deployment_id: "dep_live",
      rolled_back: false,
      created_at: new Date(t0),
      version: String(last)
    })
    expect(await fx.sql`select environment_id, slug, kind from environments order by environment_id`).toEqual([
      { environment_id: "env_prev", slug: "preview", kind: "preview" },
      { environment_id: "env_prod", slug: "production", kind: "production" }
    ])

    const deployments = await fx.sql`select deployment_id, status, source, git_sha, git_branch, replicas, port, failed_step, failure_reason,
      building_at, deploying_at, ready_at, failed_at from deployments order by deployment_id`
    expect(deployments).toMatchObject([
      { deployment_id: "dep_fail", status: "failed", failed_step: "await-instances", ready_at: null, failed_at: new Date(t0 + 9000) },
      { deployment_id: "dep_live", status: "ready", source: { image: "registry.local/shop:dep_live" }, git_sha: "abc1234", git_branch: "main",
        replicas: 2, port: 8080, failed_step: null, building_at: new Date(t0 + 1000), deploying_at: new Date(t0 + 2000), ready_at: new Date(t0 + 6000) },
      { deployment_id: "dep_prev", status: "ready" }
    ])
    expect(deployments[0]?.["failure_reason"]).toContain("0 of 1 instances running")

    const steps = await fx.sql`select step, started_at, ended_at, error from deployment_steps where deployment_id = 'dep_live'
      order by started_at, ended_at nulls last`
    const at = (s: number) => new Date(t0 + s * 1000)
    expect(steps).toEqual([
      { step: "build", started_at: at(1), ended_at: at(1), error: null },
      { step: "krane-create", started_at: at(1), ended_at: at(2), error: null },
      { step: "await-instances", started_at: at(2), ended_at: at(4), error: null },
      { step: "scrape-openapi", started_at: at(4), ended_at: at(5), error: null },
      { step: "assign-domains", started_at: at(5), ended_at: at(6), error: null },
      { step: "go-live", started_at: at(6), ended_at: at(6), error: null }
    ])
    expect(await fx.sql`select step, ended_at, error from deployment_steps where deployment_id = 'dep_fail' and error is not null`).toEqual([
      { step: "await-instances", ended_at: at(9), error: "deployment never became ready: 0 of 1 instances running after 60s" }
    ])

    // InstancesObserved replaces the set: the PENDING instance of the first observation is gone.
    expect(await fx.sql`select instance_id, address, status from instances where deployment_id = 'dep_live' order by instance_id`).toEqual([
      { instance_id: "dep_live-i0", address: "10.0.0.1:8080", status: "RUNNING" },
      { instance_id: "dep_live-i1", address: "10.0.0.2:8080", status: "RUNNING" }
    ])
    expect(await fx.sql`select hostname, deployment_id, environment_id, sticky from domains order by hostname`).toEqual([
      { hostname: "shop-acme.berth.localhost", deployment_id: "dep_live", environment_id: "env_prod", sticky: "live" },
      { hostname: "shop-git-abc1234-acme.berth.localhost", deployment_id: "dep_live", environment_id: "env_prod", sticky: "deployment" },
      { hostname: "shop-preview-acme.berth.localhost", deployment_id: "dep_prev", environment_id: "env_prev", sticky: "environment" }
    ])

    const specs = await fx.sql<Array<{ deployment_id: string; content: Buffer | null; size_bytes: number }>>`
      select deployment_id, content, size_bytes from openapi_specs order by deployment_id`
    expect(specs.map((s) => [s.deployment_id, s.content?.toString("utf8") ?? null])).toEqual([
      ["dep_live", specText],
      ["dep_prev", null] // object missing from the bucket: row kept without content
    ])

    const audit = await fx.sql`select event_type, command_id, at, payload from audit_events order by stream_seq, idx`
    expect(audit).toHaveLength(eventCount)
    expect(audit[0]).toMatchObject({ event_type: "ProjectCreated", command_id: "cmd_create", at: new Date(t0), payload: { type: "ProjectCreated", slug: "shop" } })
    expect(audit[audit.length - 1]).toMatchObject({ event_type: "CommandRejected", command_id: "cmd_bad", payload: { code: "NOT_FOUND" } })
  })

  it("restarts from its checkpoint: nothing applied twice, nothing skipped, bad messages skipped", async () => {
    await putSpec(fx.js)
    const half = Math.floor(history.length / 2)
    const firstSeqs = await publishSteps(fx.js, history.slice(0, half))
    const rt1 = start({ maxBatch: 3 })
    await waitForSeq(rt1, firstSeqs[firstSeqs.length - 1] ?? 0)
    await rt1.dispose()
    const mid = await checkpoint()
    expect(mid).toBe(firstSeqs[firstSeqs.length - 1])

    // While the projector is down: a non-JSON message, a JSON non-envelope, then the rest of the history.
    const bad1 = await publishRaw(fx.js, "this is not json \u0000")
    const bad2 = await publishRaw(fx.js, JSON.stringify({ v: 1, projectId, events: [{ type: "Nope" }] }))
    const restSeqs = await publishSteps(fx.js, history.slice(half), firstSeqs[firstSeqs.length - 1])
    const last = restSeqs[restSeqs.length - 1] ?? 0

    const rt2 = start({ maxBatch: 2 })
    await waitForSeq(rt2, last)
    await rt2.dispose()

    expect(await checkpoint()).toBe(last)
    const audit = await fx.sql<Array<{ stream_seq: string; event_type: string }>>`
      select stream_seq::text, event_type from audit_events order by audit_events.stream_seq, idx`
    expect(audit).toHaveLength(eventCount + 2)
    expect(new Set(audit.map((a) => Number(a.stream_seq)))).toEqual(new Set([...firstSeqs, bad1, bad2, ...restSeqs]))
    expect(audit.filter((a) => a.event_type === "Undecodable").map((a) => Number(a.stream_seq))).toEqual([bad1, bad2])
    expect(await fx.sql`select deployment_id, status from deployments order by deployment_id`).toEqual([
      { deployment_id: "dep_fail", status: "failed" },
      { deployment_id: "dep_live", status: "ready" },
      { deployment_id: "dep_prev", status: "ready" }
    ])

    // A third start with nothing new applies nothing.
    const before = await dumpReadModel(fx.sql)
    const rt3 = start()
    await waitForSeq(rt3, last)
    await rt3.dispose()
    expect(await dumpReadModel(fx.sql)).toEqual(before)
  })

  it("audits and skips an envelope PostgreSQL cannot store, applying the rest of its batch", async () => {
    const [created] = await publishSteps(fx.js, history.slice(0, 1))
    // Valid per the schema, but jsonb rejects \u0000: the batch fails, is retried one by one, and this one is skipped.
    const poisoned = await publishSteps(fx.js, [{
      at: t0 + 500,
      commandId: "cmd_nul",
      events: [{ type: "CommandRejected", commandId: "cmd_nul", commandType: "Deploy", code: "X", message: "nul \u0000 here" }]
    }], created)
    const after = await publishSteps(fx.js, history.slice(1, 2), poisoned[0])
    const rt = start()
    await waitForSeq(rt, after[0] ?? 0)
    await rt.dispose()
    const audit = await fx.sql`select stream_seq::int as seq, event_type, at from audit_events order by seq, idx`
    expect(audit.map((a) => [a["seq"], a["event_type"]])).toEqual([
      [created, "ProjectCreated"],
      [poisoned[0], "Undecodable"],
      [after[0], "DeploymentRequested"],
      [after[0], "DeploymentBuilding"]
    ])
    expect(audit[1]?.["at"]).toEqual(new Date(t0 + 500))
    expect(await checkpoint()).toBe(after[0])
  })

  it("applies every event once when two projectors share the read model", async () => {
    await putSpec(fx.js)
    const seqs = await publishSteps(fx.js, history)
    const last = seqs[seqs.length - 1] ?? 0
    // Each commit moves the checkpoint on from where its batch started: the projector that loses a race
    // starts over from the stored checkpoint.
    const [rt1, rt2] = [start({ maxBatch: 2 }), start({ maxBatch: 3 })]
    try {
      await Promise.all([waitForSeq(rt1, last), waitForSeq(rt2, last)])
    } finally {
      await Promise.all([rt1.dispose(), rt2.dispose()])
    }
    expect(await checkpoint()).toBe(last)

    const aloneUrl = await freshDatabase("proj")
    const alone = startProjector(fx, {}, aloneUrl)
    try {
      await waitForSeq(alone, last)
    } finally {
      await alone.dispose()
    }
    const aloneSql = postgres(aloneUrl, { onnotice: () => {} })
    try {
      expect(await dumpReadModel(fx.sql)).toEqual(await dumpReadModel(aloneSql))
    } finally {
      await aloneSql.end()
    }
  })

  it("keeps projecting live messages and rebuilds identical rows", async () => {
    await putSpec(fx.js)
    const rt = start()
    try {
      // Published while the projector is running.
      const seqs = await publishSteps(fx.js, history)
      await publishRaw(fx.js, "garbage")
      const last = seqs[seqs.length - 1] ?? 0
      await waitForSeq(rt, last + 1)
      const before = await dumpReadModel(fx.sql)
      expect(before["audit_events"]).toHaveLength(eventCount + 1)

      const started = Date.now()
      await rt.runPromise(Effect.flatMap(Projector, (p) => p.rebuild))
      console.log(`rebuild took ${Date.now() - started} ms`)
      expect(await dumpReadModel(fx.sql)).toEqual(before)
      expect(await rt.runPromise(Effect.flatMap(Projector, (p) => p.checkpoint))).toBe(last + 1)

      // And it keeps going after the rebuild.
      const more = await publishRaw(fx.js, "more garbage")
      await waitForSeq(rt, more)
      expect(await checkpoint()).toBe(more)
    } finally {
      await rt.dispose()
    }
  })
})
