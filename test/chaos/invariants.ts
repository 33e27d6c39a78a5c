/**
 * What must hold once a chaos round's faults are healed and Berth is quiescent. Each check returns a
 * verdict with a human-readable diff: what the log says against what the system holds.
 *
 * - terminal: every deployment the log requested is ready, failed or cancelled, and a failed or
 *   cancelled one is compensated;
 * - decided-once: every command the storm published is decided exactly once (one envelope with its id);
 * - no-duplicate-steps: per deployment at most one of each step's event (DeploymentBuilding,
 *   KraneDeploymentCreated, a spec outcome, DomainsAssigned, DeploymentReady, terminal, compensated,
 *   a deploy LiveSwitched);
 * - read-model: the PostgreSQL read model equals a fresh replay of the log (a new Projector into an
 *   empty scratch database), table by table, row by row. No column is excluded: every timestamp is an
 *   envelope's `at`, and openapi_specs.content comes from the object store, which a replay reads too;
 * - routes: the route table in KV `berth_routes` equals the fold of the log (hostname -> deployment,
 *   and each routed deployment's running instance addresses);
 * - krane: Krane holds exactly the ready deployments, plus at most those whose compensation the log
 *   says could not delete them (`kraneDeleted: false`); nothing else (no orphan), nothing missing.
 */
import { Kvm } from "@nats-io/kv"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Schema } from "effect"
import postgres from "postgres"
import { StoredRouteTableSchema } from "../../src/adapters/routing/KvRoutingService.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import type { ProjectState } from "../../src/domain/state.js"
import { kraneIdOf } from "../../src/domain/steps.js"
import { Nats } from "../../src/nats/Nats.js"
import { buckets } from "../../src/nats/subjects.js"
import { Database } from "../../src/projections/Database.js"
import { Projector } from "../../src/projections/Projector.js"
import { readModelTables } from "../../src/projections/readModel.js"
import { primaryKeys } from "../support/projectorFixture.js"
import type { FakeKrane } from "../support/FakeKrane.js"
import { createDatabaseOn } from "../support/servers.js"
import type { Log } from "./log.js"

export interface Verdict {
  readonly name: InvariantName
  readonly ok: boolean
  /** What was compared (e.g. "23 deployments"). */
  readonly checked: string
  /** On failure: what differed, readable. */
  readonly diff: string
}

export const invariantNames = ["quiescent", "terminal", "decided-once", "no-duplicate-steps", "read-model", "routes", "krane"] as const
export type InvariantName = (typeof invariantNames)[number]

const verdict = (name: InvariantName, checked: string, problems: ReadonlyArray<string>, limit = 20): Verdict => ({
  name,
  ok: problems.length === 0,
  checked,
  diff:
    problems.slice(0, limit).join("\n") + (problems.length > limit ? `\n… and ${problems.length - limit} more` : "")
})

const eventsOf = (log: Log, projectId: string): ReadonlyArray<ProjectEvent> =>
  (log.byProject.get(projectId) ?? []).flatMap((envelope) => envelope.events)

const deploymentIdOf = (event: ProjectEvent): string | undefined => ("deploymentId" in event ? event.deploymentId : undefined)

/** A deployment's events, one per line: the diff a reader needs to see what happened to it. */
export const storyOf = (log: Log, projectId: string, deploymentId: string): string =>
  (log.byProject.get(projectId) ?? [])
    .flatMap((envelope) =>
      envelope.events
        .filter((event) => deploymentIdOf(event) === deploymentId || (event.type === "LiveSwitched" && (event.to === deploymentId || event.from === deploymentId)))
        .map((event) => `    #${envelope.seq} ${JSON.stringify(event)}`)
    )
    .join("\n")

export const checkTerminal = (log: Log, states: ReadonlyMap<string, ProjectState>): Verdict => {
  const problems: Array<string> = []
  let count = 0
  for (const [projectId, state] of states) {
    for (const deployment of Object.values(state.deployments)) {
      count++
      const terminal = deployment.status === "ready" || deployment.status === "failed" || deployment.status === "cancelled"
      if (!terminal) problems.push(`${projectId}/${deployment.id} is ${deployment.status}, not terminal:\n${storyOf(log, projectId, deployment.id)}`)
      else if (deployment.status !== "ready" && !deployment.compensated) {
        problems.push(`${projectId}/${deployment.id} is ${deployment.status} but never compensated:\n${storyOf(log, projectId, deployment.id)}`)
      }
    }
  }
  return verdict("terminal", `${count} deployments`, problems, 10)
}

export const checkDecidedOnce = (log: Log, published: ReadonlyMap<string, string>): Verdict => {
  const decided = new Map<string, number>()
  for (const envelopes of log.byProject.values()) {
    for (const envelope of envelopes) {
      if (envelope.commandId !== null) decided.set(envelope.commandId, (decided.get(envelope.commandId) ?? 0) + 1)
    }
  }
  const problems: Array<string> = []
  for (const [commandId, projectId] of published) {
    const n = decided.get(commandId) ?? 0
    if (n !== 1) problems.push(`command ${commandId} (project ${projectId}) was decided ${n} times`)
  }
  return verdict("decided-once", `${published.size} commands`, problems)
}

/** Events a deployment may have at most once, by name; a group counts its members together. */
const onceGroups: ReadonlyArray<{ readonly name: string; readonly types: ReadonlyArray<ProjectEvent["type"]> }> = [
  { name: "DeploymentRequested", types: ["DeploymentRequested"] },
  { name: "DeploymentBuilding", types: ["DeploymentBuilding"] },
  { name: "KraneDeploymentCreated", types: ["KraneDeploymentCreated"] },
  { name: "OpenApiSpecCaptured/NotFound", types: ["OpenApiSpecCaptured", "OpenApiSpecNotFound"] },
  { name: "DomainsAssigned", types: ["DomainsAssigned"] },
  { name: "terminal (Ready/Failed/Cancelled)", types: ["DeploymentReady", "DeploymentFailed", "DeploymentCancelled"] },
  { name: "DeploymentCompensated", types: ["DeploymentCompensated"] }
]

export const checkNoDuplicateSteps = (log: Log): Verdict => {
  const problems: Array<string> = []
  let count = 0
  for (const projectId of log.byProject.keys()) {
    const counts = new Map<string, number>()
    const bump = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)
    for (const event of eventsOf(log, projectId)) {
      const deploymentId = deploymentIdOf(event)
      const group = onceGroups.find((g) => g.types.includes(event.type))
      if (deploymentId !== undefined && group !== undefined) bump(`${deploymentId}\u0000${group.name}`)
      if (event.type === "LiveSwitched" && event.reason === "deploy") bump(`${event.to}\u0000LiveSwitched(deploy)`)
    }
    count += counts.size
    for (const [key, n] of counts) {
      if (n <= 1) continue
      const [deploymentId = "", name] = key.split("\u0000")
      problems.push(`${projectId}/${deploymentId}: ${name} written ${n} times:\n${storyOf(log, projectId, deploymentId)}`)
    }
  }
  return verdict("no-duplicate-steps", `${count} step events`, problems, 10)
}

const normalise = (value: unknown): unknown => {
  if (value instanceof Date) return value.toISOString()
  if (Buffer.isBuffer(value)) return `bytes:${value.toString("base64")}`
  if (Array.isArray(value)) return value.map(normalise)
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, normalise(v)]))
  }
  return value
}

type Rows = ReadonlyArray<Readonly<Record<string, unknown>>>

const dumpTable = async (sql: postgres.Sql, table: (typeof readModelTables)[number]): Promise<Rows> =>
  (await sql.unsafe(`select * from ${table} order by ${primaryKeys[table]}`)).map((row) => normalise(row) as Record<string, unknown>)

const keyOf = (table: (typeof readModelTables)[number], row: Readonly<Record<string, unknown>>) =>
  primaryKeys[table].split(", ").map((column) => String(row[column])).join("/")

/** Row-by-row differences of two dumps of one table. */
const diffTable = (table: (typeof readModelTables)[number], live: Rows, replay: Rows): Array<string> => {
  const problems: Array<string> = []
  const liveByKey = new Map(live.map((row) => [keyOf(table, row), row]))
  const replayByKey = new Map(replay.map((row) => [keyOf(table, row), row]))
  for (const [key, row] of replayByKey) {
    const other = liveByKey.get(key)
    if (other === undefined) {
      problems.push(`${table} ${key}: missing from the read model; the replay has ${JSON.stringify(row)}`)
      continue
    }
    const columns = Object.keys(row).filter((column) => JSON.stringify(row[column]) !== JSON.stringify(other[column]))
    if (columns.length > 0) {
      problems.push(
        `${table} ${key}: ${columns.map((c) => `${c} read model ${JSON.stringify(other[c])} / replay ${JSON.stringify(row[c])}`).join("; ")}`
      )
    }
  }
  for (const [key, row] of liveByKey) {
    if (!replayByKey.has(key)) problems.push(`${table} ${key}: in the read model but not in the replay: ${JSON.stringify(row)}`)
  }
  return problems
}

/** Replays the log into a new empty database with a Projector of its own, and compares every table. */
export const checkReadModel = async (opts: {
  readonly natsUrl: string
  readonly pgAdminUrl: string
  readonly databaseUrl: string
  readonly lastSeq: number
}): Promise<Verdict> => {
  const scratchName = `chaos_replay_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`
  const scratchUrl = await createDatabaseOn(opts.pgAdminUrl, scratchName)
  const runtime = ManagedRuntime.make(
    Projector.layer().pipe(
      Layer.provideMerge(Layer.merge(Nats.layer(opts.natsUrl), Database.layer(scratchUrl))),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
    )
  )
  const live = postgres(opts.databaseUrl, { onnotice: () => {}, max: 2 })
  const replay = postgres(scratchUrl, { onnotice: () => {}, max: 2 })
  try {
    await runtime.runPromise(Effect.flatMap(Projector, (projector) => projector.waitFor(opts.lastSeq)).pipe(Effect.timeout("60 seconds")))
    const problems: Array<string> = []
    let rows = 0
    for (const table of readModelTables) {
      const [a, b] = await Promise.all([dumpTable(live, table), dumpTable(replay, table)])
      rows += b.length
      problems.push(...diffTable(table, a, b))
    }
    return verdict("read-model", `${readModelTables.length} tables, ${rows} rows`, problems)
  } finally {
    await live.end({ timeout: 5 })
    await replay.end({ timeout: 5 })
    await runtime.dispose()
    const admin = postgres(opts.pgAdminUrl, { onnotice: () => {}, max: 1 })
    await admin.unsafe(`drop database if exists ${scratchName} with (force)`).catch(() => undefined)
    await admin.end({ timeout: 5 })
  }
}

const decodeStoredTable = Schema.decodeUnknownEither(Schema.parseJson(StoredRouteTableSchema))

/** The route table the log implies: the fold's routes, and the running addresses of each deployment they name. */
const expectedTable = (state: ProjectState) => {
  const upstreams: Record<string, ReadonlyArray<string>> = {}
  for (const route of Object.values(state.routes)) {
    const deployment = state.deployments[route.deploymentId]
    upstreams[route.deploymentId] = (deployment?.instances ?? []).filter((i) => i.status === "RUNNING").map((i) => i.address)
  }
  return { routes: state.routes, upstreams }
}

const sortedJson = (value: unknown): string => JSON.stringify(normalise(value))

export const checkRoutes = async (nc: NatsConnection, states: ReadonlyMap<string, ProjectState>): Promise<Verdict> => {
  const kv = await new Kvm(nc).open(buckets.routes)
  const problems: Array<string> = []
  let hostnames = 0
  for (const [projectId, state] of states) {
    const expected = expectedTable(state)
    hostnames += Object.keys(expected.routes).length
    const entry = await kv.get(projectId)
    const stored = entry === null || entry.operation !== "PUT" ? null : decodeStoredTable(entry.string())
    if (stored !== null && stored._tag === "Left") {
      problems.push(`${projectId}: the stored route table does not decode: ${String(stored.left).slice(0, 300)}`)
      continue
    }
    const actual = stored === null ? { routes: {}, upstreams: {} } : { routes: stored.right.routes, upstreams: stored.right.upstreams }
    for (const hostname of new Set([...Object.keys(expected.routes), ...Object.keys(actual.routes)])) {
      const want = expected.routes[hostname]
      const got = (actual.routes as Record<string, unknown>)[hostname]
      if (sortedJson(want) !== sortedJson(got)) {
        problems.push(`${projectId} ${hostname}: KV routes it to ${JSON.stringify(got ?? null)}; the log to ${JSON.stringify(want ?? null)}`)
      }
    }
    if (sortedJson(expected.upstreams) !== sortedJson(actual.upstreams)) {
      problems.push(`${projectId} upstreams: KV ${JSON.stringify(actual.upstreams)}; the log ${JSON.stringify(expected.upstreams)}`)
    }
  }
  return verdict("routes", `${states.size} projects, ${hostnames} hostnames`, problems)
}

export const checkKrane = (log: Log, states: ReadonlyMap<string, ProjectState>, krane: FakeKrane): Verdict => {
  const held = new Map(krane.deployments().map((spec) => [`${spec.namespace}/${spec.deploymentId}`, spec]))
  const problems: Array<string> = []
  const accounted = new Set<string>()
  let count = 0
  for (const [projectId, state] of states) {
    const namespace = state.project?.workspace ?? ""
    const undeletable = new Set(
      eventsOf(log, projectId).flatMap((event) => (event.type === "DeploymentCompensated" && !event.kraneDeleted ? [event.deploymentId] : []))
    )
    for (const deployment of Object.values(state.deployments)) {
      count++
      const key = `${deployment.kraneNamespace ?? namespace}/${kraneIdOf(projectId, deployment)}`
      accounted.add(key)
      const inKrane = held.has(key)
      if (deployment.status === "ready" && !inKrane) {
        problems.push(`${projectId}/${deployment.id} is ready but Krane does not hold it:\n${storyOf(log, projectId, deployment.id)}`)
      }
      if (deployment.status !== "ready" && inKrane && !undeletable.has(deployment.id)) {
        problems.push(
          `${projectId}/${deployment.id} is ${deployment.status} (compensated: ${deployment.compensated}) but Krane still holds it (an orphan):\n${storyOf(log, projectId, deployment.id)}`
        )
      }
    }
  }
  for (const key of held.keys()) {
    if (!accounted.has(key)) problems.push(`Krane holds ${key}, which no log requested`)
  }
  return verdict("krane", `${count} deployments, ${held.size} in Krane`, problems, 10)
}

