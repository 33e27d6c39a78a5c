/**
 * One chaos round against a running cluster: the storm's commands published raw to NATS (as any
 * service would) while the planned faults strike, then — faults healed — a wait until Berth is
 * quiescent, then every invariant (invariants.ts).
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import postgres from "postgres"
import { intakeConsumer } from "../../src/actors/CommandIntake.js"
import { type ProjectState } from "../../src/domain/state.js"
import { streams, subjects } from "../../src/nats/subjects.js"
import type { Cluster } from "./cluster.js"
import {
  checkDecidedOnce,
  checkKrane,
  checkNoDuplicateSteps,
  checkReadModel,
  checkRoutes,
  checkTerminal,
  type InvariantName,
  type Verdict
} from "./invariants.js"
import { foldAll, foldProject, type Log, type LoggedEnvelope, readLog } from "./log.js"
import { type FaultKind, faultKinds, makeRandom, type Op, type PlannedFault, type RoundPlan } from "./plan.js"

export interface FaultRecord {
  readonly fault: PlannedFault
  readonly startedMs: number
  /** Set when the fault could not be injected (it then does not count as injected). */
  readonly error?: string
}

export interface RoundResult {
  readonly plan: RoundPlan
  readonly faults: ReadonlyArray<FaultRecord>
  /** commandId -> projectId of every command published. */
  readonly published: ReadonlyMap<string, string>
  readonly skippedOps: number
  readonly outcomes: { readonly ready: number; readonly failed: number; readonly cancelled: number; readonly rejected: number }
  readonly verdicts: ReadonlyArray<Verdict>
  readonly stormMs: number
  readonly quiesceMs: number
  readonly totalMs: number
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A NATS client like another service's: reconnects forever, so it rides out nats-server restarts. */
export interface Publisher {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly close: () => Promise<void>
}

export const connectPublisher = async (natsUrl: string): Promise<Publisher> => {
  const nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 200, timeout: 5_000 })
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc, { timeout: 5_000 }), close: () => nc.close() }
}

/** Retries `attempt` (NATS or PostgreSQL down for a while) until it succeeds or `ms` pass. */
const persist = async <A>(what: string, attempt: () => Promise<A>, ms = 60_000): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await attempt()
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: still failing after ${ms} ms: ${e instanceof Error ? e.message : String(e)}`)
      await sleep(200)
    }
  }
}

const readProject = async (publisher: Publisher, projectId: string): Promise<ProjectState> => {
  const envelopes: Array<LoggedEnvelope> = []
  let seq = 0
  for (;;) {
    const message = await publisher.jsm.direct.getMessage(streams.events, { next_by_subj: subjects.events(projectId), seq: seq + 1 })
    if (message === null) return foldProject(envelopes)
    seq = message.seq
    envelopes.push({ ...(message.json<Omit<LoggedEnvelope, "seq">>()), seq })
  }
}

const choose = <A>(items: ReadonlyArray<A>, pick: number): A | undefined => items[Math.floor(pick * items.length)]

const createCommand = (projectId: string, commandId: string) => ({
  type: "CreateProject",
  commandId,
  projectId,
  workspace: "chaos",
  slug: projectId.toLowerCase(),
  apexDomain: "berth.test",
  defaultBranch: "main",
  environments: [
    { id: "env_prod", slug: "production", kind: "production" },
    { id: "env_prev", slug: "preview", kind: "preview" }
  ]
})

/** The storm: every op at its time; lifecycle ops pick their targets from the log as it stands then. */
const runStorm = async (plan: RoundPlan, publisher: Publisher, started: number) => {
  const published = new Map<string, string>()
  const deployed = new Map<string, Array<string>>()
  let skipped = 0
  const publish = async (projectId: string, body: { readonly commandId: string } & Record<string, unknown>) => {
    const data = JSON.stringify(body)
    // Nats-Msg-Id: a retried publish whose first ack was lost is not stored twice (Berth would also
    // recognise the command id; this keeps the storm's own retries out of that question).
    await persist(`publish ${body.commandId}`, () => publisher.js.publish(subjects.command(projectId), data, { msgID: body.commandId, timeout: 3_000 }), 90_000)
    published.set(body.commandId, projectId)
  }
  const runOp = async (op: Op, index: number) => {
    const commandId = `cmd_${plan.projects[0] ?? "x"}_${index}_${op.kind}`
    switch (op.kind) {
      case "create":
        return publish(op.projectId, createCommand(op.projectId, commandId))
      case "deploy":
        deployed.set(op.projectId, [...(deployed.get(op.projectId) ?? []), op.deploymentId])
        return publish(op.projectId, {
          type: "Deploy",
          commandId,
          projectId: op.projectId,
          deploymentId: op.deploymentId,
          environmentId: op.environmentId,
          source: { command: ["node", "server.js"] },
          git: { sha: `a1b2c3${index.toString(16).padStart(4, "0")}`, branch: index % 3 === 0 ? "feature" : "main", message: "chaos" },
          replicas: op.replicas
        })
      default: {
        const known = deployed.get(op.projectId) ?? []
        if (known.length === 0) {
          skipped++
          return
        }
        const state = await persist(`read ${op.projectId}`, () => readProject(publisher, op.projectId))
        const production = new Set((state.project?.environments ?? []).filter((e) => e.kind === "production").map((e) => e.id))
        const all = Object.values(state.deployments)
        const live = state.liveDeploymentId
        const fallback = choose(known, op.pick) ?? ""
        if (op.kind === "cancel") {
          const target = choose(all.filter((d) => d.status !== "ready" && d.status !== "failed" && d.status !== "cancelled").map((d) => d.id), op.pick) ?? fallback
          return publish(op.projectId, { type: "CancelDeployment", commandId, projectId: op.projectId, deploymentId: target })
        }
        const ready = all.filter((d) => d.status === "ready" && production.has(d.environmentId))
        if (op.kind === "rollback") {
          const target = choose(ready.filter((d) => d.id !== live).map((d) => d.id), op.pick) ?? fallback
          return publish(op.projectId, {
            type: "Rollback",
            commandId,
            projectId: op.projectId,
            sourceDeploymentId: live ?? choose(known, 1 - op.pick) ?? fallback,
            targetDeploymentId: target
          })
        }
        const target = choose(ready.filter((d) => d.id !== live || state.rolledBack).map((d) => d.id), op.pick) ?? fallback
        return publish(op.projectId, { type: "Promote", commandId, projectId: op.projectId, deploymentId: target })
      }
    }
  }
  // Ops run at their times; each project's ops stay in order (a Deploy never overtakes its CreateProject).
  const chains = new Map<string, Promise<void>>()
  const all = plan.ops.map(async ({ atMs, op }, index) => {
    await sleep(Math.max(0, started + atMs - Date.now()))
    const previous = chains.get(op.projectId) ?? Promise.resolve()
    const next = previous.then(() => runOp(op, index))
    chains.set(op.projectId, next.catch(() => undefined))
    return next
  })
  await Promise.all(all)
  return { published, skipped }
}

const injectFault = async (fault: PlannedFault, cluster: Cluster, random: () => number): Promise<void> => {
  switch (fault.kind) {
    case "orchestrator-kill":
      // Between a kill and the restart run.json still names the dead process: wait for a live one
      // (after repeated kills the supervisor's crash backoff reaches 30 s).
      return persist("kill -9 the orchestrator", async () => {
        const pid = cluster.berth.rolePid("orchestrator")
        if (pid === undefined) throw new Error("no orchestrator pid")
        process.kill(pid, 0)
        cluster.berth.killRole("orchestrator")
      }, 45_000)
    case "nats-kill":
      await cluster.killNats()
      await sleep(fault.forMs)
      return cluster.restartNats()
    case "pg-stop":
      await cluster.stopPostgres()
      await sleep(fault.forMs)
      return cluster.startPostgres()
    case "krane-5xx":
    case "krane-hang":
      cluster.krane.setFault({
        mode: fault.kind === "krane-5xx" ? "error" : "hang",
        status: random() < 0.5 ? 500 : 503,
        random,
        ...(fault.methods !== undefined ? { methods: fault.methods } : {}),
        ...(fault.probability !== undefined ? { probability: fault.probability } : {})
      })
      await sleep(fault.forMs)
      return cluster.krane.setFault(undefined)
  }
}

const runFaults = async (plan: RoundPlan, cluster: Cluster, started: number): Promise<ReadonlyArray<FaultRecord>> => {
  const random = makeRandom(plan.seed ^ (plan.round * 7919))
  return Promise.all(
    plan.faults.map(async (fault) => {
      await sleep(Math.max(0, started + fault.atMs - Date.now()))
      const startedMs = Date.now() - started
      try {
        await injectFault(fault, cluster, random)
        return { fault, startedMs }
      } catch (e) {
        return { fault, startedMs, error: e instanceof Error ? e.message : String(e) }
      }
    })
  )
}

interface Quiescence {
  readonly log: Log
  readonly states: ReadonlyMap<string, ProjectState>
  readonly reached: boolean
  readonly why: string
}

/**
 * Waits until nothing is left to do: every deployment finished (and compensated when it failed), the
 * intake has no command pending or unacknowledged, the projector's checkpoint is at the log's end,
 * and the log has not moved for 1.5 s.
 */
const waitQuiescent = async (
  publisher: Publisher,
  sql: postgres.Sql,
  timeoutMs: number,
  progress: (line: string) => void
): Promise<Quiescence> => {
  const deadline = Date.now() + timeoutMs
  let reported = Date.now()
  let stableSince = Date.now()
  let lastSeq = -1
  let why = "not checked yet"
  for (;;) {
    try {
      const log = await readLog(publisher.js, publisher.jsm)
      const states = foldAll(log)
      if (log.lastSeq !== lastSeq) {
        lastSeq = log.lastSeq
        stableSince = Date.now()
      }
      const busy = [...states].flatMap(([projectId, state]) =>
        Object.values(state.deployments)
          .filter((d) => !(d.status === "ready" || ((d.status === "failed" || d.status === "cancelled") && d.compensated)))
          .map((d) => `${projectId}/${d.id} (${d.status})`)
      )
      const intake = await publisher.jsm.consumers.info(streams.commands, intakeConsumer)
      const queued = intake.num_pending + intake.num_ack_pending
      const queue = `${intake.num_pending} commands not yet delivered to the intake, ${intake.num_ack_pending} delivered and not acknowledged`
      const rows = await sql<Array<{ stream_seq: string }>>`select stream_seq::text from projection_checkpoints where name = 'read_model'`
      const checkpoint = Number(rows[0]?.stream_seq ?? 0)
      why = [
        busy.length > 0 ? `deployments in progress: ${busy.join(", ")}` : "",
        queued > 0 ? queue : "",
        checkpoint < log.lastSeq ? `projector at ${checkpoint} of ${log.lastSeq}` : ""
      ].filter((s) => s !== "").join("; ")
      if (why === "" && Date.now() - stableSince >= 1_500) return { log, states, reached: true, why: "" }
      if (Date.now() > deadline) return { log, states, reached: false, why: why === "" ? "the log kept moving" : why }
    } catch (e) {
      why = `cannot observe: ${e instanceof Error ? e.message : String(e)}`
      if (Date.now() > deadline) {
        const log = await readLog(publisher.js, publisher.jsm)
        return { log, states: foldAll(log), reached: false, why }
      }
    }
    if (Date.now() - reported >= 5_000) {
      reported = Date.now()
      progress(`  still settling: ${why === "" ? "the log is still moving" : why}`)
    }
    await sleep(300)
  }
}

export const runRound = async (
  plan: RoundPlan,
  cluster: Cluster,
  options: { readonly quiesceTimeoutMs: number; readonly log?: (line: string) => void }
): Promise<RoundResult> => {
  const started = Date.now()
  cluster.krane.krane.setReadyAfterPolls(plan.readyAfterPolls)
  const publisher = await connectPublisher(cluster.natsUrl)
  const sql = postgres(cluster.databaseUrl, { onnotice: () => {}, max: 1, connect_timeout: 3 })
  try {
    const [storm, faults] = await Promise.all([runStorm(plan, publisher, started), runFaults(plan, cluster, started)])
    cluster.krane.setFault(undefined)
    const stormMs = Date.now() - started
    const quiet = await waitQuiescent(publisher, sql, options.quiesceTimeoutMs, options.log ?? (() => {}))
    const quiesceMs = Date.now() - started - stormMs
    const { log, states } = quiet
    const verdicts: Array<Verdict> = [
      {
        name: "quiescent",
        ok: quiet.reached && log.undecodable.length === 0,
        checked: `within ${Math.round(options.quiesceTimeoutMs / 1000)} s`,
        diff: [quiet.why, ...log.undecodable.map((u) => `undecodable envelope #${u.seq}: ${u.error}`)].filter((s) => s !== "").join("\n")
      },
      checkTerminal(log, states),
      checkDecidedOnce(log, storm.published),
      checkNoDuplicateSteps(log),
      await checkReadModel({ natsUrl: cluster.natsUrl, pgAdminUrl: cluster.pgAdminUrl, databaseUrl: cluster.databaseUrl, lastSeq: log.lastSeq }).catch(
        (e: unknown): Verdict => ({ name: "read-model", ok: false, checked: "replay", diff: `the replay failed: ${String(e)}` })
      ),
      await checkRoutes(publisher.nc, states),
      checkKrane(log, states, cluster.krane.krane)
    ]
    const mine = plan.projects.map((p) => states.get(p)).filter((s): s is ProjectState => s !== undefined)
    const deployments = mine.flatMap((s) => Object.values(s.deployments))
    const rejected = plan.projects.flatMap((p) => log.byProject.get(p) ?? []).flatMap((e) => e.events).filter((e) => e.type === "CommandRejected").length
    return {
      plan,
      faults,
      published: storm.published,
      skippedOps: storm.skipped,
      outcomes: {
        ready: deployments.filter((d) => d.status === "ready").length,
        failed: deployments.filter((d) => d.status === "failed").length,
        cancelled: deployments.filter((d) => d.status === "cancelled").length,
        rejected
      },
      verdicts,
      stormMs,
      quiesceMs,
      totalMs: Date.now() - started
    }
  } finally {
    await sql.end({ timeout: 2 }).catch(() => undefined)
    await publisher.close().catch(() => undefined)
  }
}

/** How many faults of each kind a round injected. */
export const faultCounts = (result: RoundResult): Readonly<Record<FaultKind, number>> =>
  Object.fromEntries(faultKinds.map((kind) => [kind, result.faults.filter((f) => f.fault.kind === kind && f.error === undefined).length])) as Record<
    FaultKind,
    number
  >

export const failedVerdicts = (result: RoundResult): ReadonlyArray<Verdict> => result.verdicts.filter((v) => !v.ok)

export type { InvariantName }
