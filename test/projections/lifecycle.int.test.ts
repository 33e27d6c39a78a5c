/**
 * The projector and queries for rollback, promote, cancel and compensation, against a real
 * nats-server and PostgreSQL: the live pointer and its history, sticky hostnames switching, a
 * cancelled deployment's timeline, compensation's step, instances and released hostnames.
 */
import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import { Projector } from "../../src/projections/Projector.js"
import { getDeployment, getProject, listEvents } from "../../src/projections/queries.js"
import { dumpReadModel, startProjector, useProjectorFixture, waitForSeq } from "../support/projectorFixture.js"
import { history, lifecycle, projectId, publishSteps, putSpec, t0 } from "./scenario.js"

const fx = useProjectorFixture("life")

const at = (s: number) => new Date(t0 + s * 1000)
/** The decision time of lifecycle step k. */
const lc = (k: number) => at(history.length + k)

describe("Projector: rollback, promote, cancel, compensation", () => {
  it("projects the live history, switched hostnames, a cancel and compensations; rebuild reproduces them", async () => {
    await putSpec(fx.js)
    const rt = startProjector(fx)
    try {
      const seqs = await publishSteps(fx.js, history)
      // Up to and including the second rollback (lifecycle step 7): the project is rolled back.
      const upToRollback = await publishSteps(fx.js, lifecycle.slice(0, 8), seqs[seqs.length - 1])
      await waitForSeq(rt, upToRollback[upToRollback.length - 1] ?? 0)
      expect(await fx.sql`select live_deployment_id, rolled_back from projects`).toEqual([
        { live_deployment_id: "dep_live", rolled_back: true }
      ])
      const rest = await publishSteps(fx.js, lifecycle.slice(8), upToRollback[upToRollback.length - 1])
      const all = [...seqs, ...upToRollback, ...rest]
      const last = all[all.length - 1] ?? 0
      await waitForSeq(rt, last)

      // RollbackCleared (a promote of the rolled-back-to deployment) only clears the flag.
      expect(await fx.sql`select live_deployment_id, rolled_back from projects`).toEqual([
        { live_deployment_id: "dep_live", rolled_back: false }
      ])
      const seqOf = (k: number) => String(upToRollback[k])
      expect(await fx.sql`select stream_seq::text, at, from_deployment_id, to_deployment_id, reason from live_history order by live_history.stream_seq`).toEqual([
        { stream_seq: String(seqs[6]), at: at(6), from_deployment_id: null, to_deployment_id: "dep_live", reason: "deploy" },
        { stream_seq: seqOf(4), at: lc(4), from_deployment_id: "dep_live", to_deployment_id: "dep_next", reason: "deploy" },
        { stream_seq: seqOf(5), at: lc(5), from_deployment_id: "dep_next", to_deployment_id: "dep_live", reason: "rollback" },
        { stream_seq: seqOf(6), at: lc(6), from_deployment_id: "dep_live", to_deployment_id: "dep_next", reason: "promote" },
        { stream_seq: seqOf(7), at: lc(7), from_deployment_id: "dep_next", to_deployment_id: "dep_live", reason: "rollback" }
      ])

      // The sticky hostnames followed the switches; the others stayed where they were.
      expect(await fx.sql`select hostname, deployment_id, sticky, updated_at from domains order by hostname`).toEqual([
        { hostname: "shop-acme.berth.localhost", deployment_id: "dep_live", sticky: "live", updated_at: lc(7) },
        { hostname: "shop-git-abc1234-acme.berth.localhost", deployment_id: "dep_live", sticky: "deployment", updated_at: at(6) },
        { hostname: "shop-preview-acme.berth.localhost", deployment_id: "dep_prev", sticky: "environment", updated_at: at(14) },
        { hostname: "shop-production-acme.berth.localhost", deployment_id: "dep_live", sticky: "environment", updated_at: lc(7) }
      ])
      // go-live records the first time a deployment went live; rollbacks and promotes keep it.
      expect(await fx.sql`select deployment_id, ended_at from deployment_steps where step = 'go-live' order by deployment_id`).toEqual([
        { deployment_id: "dep_live", ended_at: at(6) },
        { deployment_id: "dep_next", ended_at: lc(4) }
      ])

      // The cancelled deployment: status, timeline (open step ended, compensation), instances terminated.
      expect(await fx.sql`select status, failed_step, failure_reason, cancelled_at, compensated_at, failed_at, ready_at
        from deployments where deployment_id = 'dep_cancel'`).toEqual([{
        status: "cancelled",
        failed_step: "await-instances",
        failure_reason: "cancelled by user",
        cancelled_at: lc(12),
        compensated_at: lc(13),
        failed_at: null,
        ready_at: null
      }])
      expect(await fx.sql`select step, started_at, ended_at, error from deployment_steps where deployment_id = 'dep_cancel'
        order by started_at, step`).toEqual([
        { step: "build", started_at: lc(9), ended_at: lc(9), error: null },
        { step: "krane-create", started_at: lc(9), ended_at: lc(10), error: null },
        { step: "await-instances", started_at: lc(10), ended_at: lc(12), error: "cancelled by user" },
        { step: "compensate", started_at: lc(12), ended_at: lc(13), error: null }
      ])
      expect(await fx.sql`select instance_id, status, updated_at from instances where deployment_id = 'dep_cancel'`).toEqual([
        { instance_id: "dep_cancel-i0", status: "TERMINATED", updated_at: lc(13) }
      ])

      // The failed deployment's compensation started when it failed and ended with its problem.
      expect(await fx.sql`select step, started_at, ended_at, error from deployment_steps
        where deployment_id = 'dep_fail' and step = 'compensate'`).toEqual([{
        step: "compensate",
        started_at: at(9),
        ended_at: lc(14),
        error: "could not delete the Krane deployment acme/dep_fail: unavailable"
      }])
      expect(await fx.sql`select compensated_at from deployments where deployment_id = 'dep_fail'`).toEqual([{ compensated_at: lc(14) }])

      // The queries expose it.
      const project = await rt.runPromise(getProject(projectId))
      expect(Option.getOrThrow(project).liveHistory).toEqual([
        { version: upToRollback[7], at: lc(7), fromDeploymentId: "dep_next", toDeploymentId: "dep_live", reason: "rollback" },
        { version: upToRollback[6], at: lc(6), fromDeploymentId: "dep_live", toDeploymentId: "dep_next", reason: "promote" },
        { version: upToRollback[5], at: lc(5), fromDeploymentId: "dep_next", toDeploymentId: "dep_live", reason: "rollback" },
        { version: upToRollback[4], at: lc(4), fromDeploymentId: "dep_live", toDeploymentId: "dep_next", reason: "deploy" },
        { version: seqs[6], at: at(6), fromDeploymentId: null, toDeploymentId: "dep_live", reason: "deploy" }
      ])
      const cancelled = Option.getOrThrow(await rt.runPromise(getDeployment(projectId, "dep_cancel")))
      expect(cancelled).toMatchObject({
        status: "cancelled",
        isLive: false,
        failure: { step: "await-instances", reason: "cancelled by user" },
        cancelledAt: lc(12),
        compensatedAt: lc(13),
        failedAt: null,
        instances: [{ instanceId: "dep_cancel-i0", status: "TERMINATED" }]
      })
      expect(cancelled.steps.map((s) => [s.step, s.error])).toEqual([
        ["build", null],
        ["krane-create", null],
        ["await-instances", "cancelled by user"],
        ["compensate", null]
      ])
      const page = Option.getOrThrow(await rt.runPromise(listEvents(projectId, { after: upToRollback[7] ?? 0, limit: 2 })))
      // A limit of 2 would split cmd_d5's envelope (DeploymentRequested, DeploymentBuilding): the page stops before it.
      expect(page.events.map((e) => [e.streamSeq, e.index, e.type, e.commandId])).toEqual([[rest[0], 0, "RollbackCleared", "cmd_pr2"]])
      expect(page.nextCursor).toBe(rest[0])

      // Rebuilding replays the same rows.
      const before = await dumpReadModel(fx.sql)
      await rt.runPromise(Effect.flatMap(Projector, (p) => p.rebuild))
      expect(await dumpReadModel(fx.sql)).toEqual(before)
    } finally {
      await rt.dispose()
    }
  })

  it("compensation deletes the hostnames it released that still route to the deployment", async () => {
    const host = "shop-git-abc1234-acme.berth.localhost"
    const [created] = await publishSteps(fx.js, history.slice(0, 2))
    const seqs = await publishSteps(fx.js, [
      // Synthetic: a hostname recorded for a deployment that then fails (the projector does not judge).
      {
        at: t0 + 2000,
        commandId: null,
        events: [{ type: "DomainsAssigned", deploymentId: "dep_live", domains: [{ hostname: host, sticky: "deployment" }], withheld: [], routeRevision: 1 }]
      },
      { at: t0 + 3000, commandId: null, events: [{ type: "DeploymentFailed", deploymentId: "dep_live", step: "krane-create", reason: "boom" }] },
      {
        at: t0 + 4000,
        commandId: null,
        events: [{ type: "DeploymentCompensated", deploymentId: "dep_live", kraneDeleted: true, releasedDomains: [host, "unknown.berth.localhost"] }]
      }
    ], created)
    const rt = startProjector(fx)
    try {
      await waitForSeq(rt, seqs[seqs.length - 1] ?? 0)
    } finally {
      await rt.dispose()
    }
    expect(await fx.sql`select hostname from domains`).toEqual([])
    expect(await fx.sql`select status, failed_step, compensated_at from deployments`).toEqual([
      { status: "failed", failed_step: "krane-create", compensated_at: at(4) }
    ])
    expect(await fx.sql`select step, started_at, ended_at, error from deployment_steps where step = 'compensate'`).toEqual([
      { step: "compensate", started_at: at(3), ended_at: at(4), error: null }
    ])
  })
})
