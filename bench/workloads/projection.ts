/**
 * Workload 4, projection: a stream of valid envelopes (written raw) projected into a fresh read model
 * from a standing start (Projector.layer, PostgreSQL with fsync on). Events per second against raw
 * multi-row INSERTs of the same audit rows, 1,000 rows per statement, into a scratch table shaped like
 * audit_events.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Layer, ManagedRuntime } from "effect"
import postgres from "postgres"
import type { EventEnvelope } from "../../src/domain/events.js"
import { ensureStreams, Nats } from "../../src/nats/Nats.js"
import { subjects } from "../../src/nats/subjects.js"
import { Database } from "../../src/projections/Database.js"
import { migrateWith } from "../../src/projections/migrate.js"
import { Projector } from "../../src/projections/Projector.js"
import { createDatabaseOn } from "../../test/support/servers.js"
import { benchEnv, resetJetStream, runMain, size } from "../lib/env.js"
import { emit, figure } from "../lib/figures.js"
import { now } from "../lib/stats.js"
import { envelope, projectHistory } from "../lib/synthetic.js"
import { natsServers } from "../../src/nats/servers.js"

const W = "projection"
const encoder = new TextEncoder()

runMain(async () => {
  const started = now()
  const env = benchEnv()
  const targetEvents = size(env, 200_000, 20_000)
  const projects = size(env, 2_000, 200)
  await resetJetStream(env.natsUrl)
  const nc = await connect({ servers: natsServers(env.natsUrl), noAsyncTraces: true })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  await Effect.runPromise(ensureStreams(jsm))

  // The stream: projects round-robin, each a valid history (ProjectCreated, then deployments).
  const at = Date.now()
  const histories = Array.from({ length: projects }, (_, i) => projectHistory(`p_proj_${i}`, at))
  const lastOf = new Array<number>(projects).fill(0)
  const envelopes: Array<{ readonly seq: number; readonly envelope: EventEnvelope }> = []
  let events = 0
  let seq = 0
  while (events < targetEvents) {
    const pending: Array<Promise<unknown>> = []
    for (let i = 0; i < 2_000 && events < targetEvents; i++) {
      seq++
      const p = seq % projects
      const projectId = `p_proj_${p}`
      const body = envelope(projectId, lastOf[p] ?? 0, at, (histories[p] ?? projectHistory(projectId, at)).next())
      lastOf[p] = seq
      events += body.events.length
      envelopes.push({ seq, envelope: body })
      pending.push(js.publish(subjects.events(projectId), encoder.encode(JSON.stringify(body))))
    }
    await Promise.all(pending)
  }
  const head = seq

  // Berth: a fresh database (migrated first, so only projecting is timed), the projector from 0.
  const dbUrl = await createDatabaseOn(env.pgAdminUrl)
  const sql = postgres(dbUrl, { max: 4, onnotice: () => {} })
  await Effect.runPromise(migrateWith(sql))
  const t0 = now()
  const runtime = ManagedRuntime.make(Projector.layer().pipe(Layer.provide(Layer.mergeAll(Database.layer(dbUrl), Nats.layer(env.natsUrl)))))
  await runtime.runtime()
  await runtime.runPromise(
    Effect.flatMap(Projector, (p) =>
      p.waitFor(head).pipe(
        Effect.timeout(env.quick ? "90 seconds" : "400 seconds"),
        Effect.catchTag("TimeoutException", () =>
          Effect.flatMap(p.checkpoint, (seq) => Effect.fail(new Error(`projector reached ${seq} of ${head} before the deadline`))))
      ))
  )
  const berthS = (now() - t0) / 1000
  await runtime.dispose()
  const [projected] = await sql<Array<{ count: string }>>`select count(*)::text as count from audit_events`
  if (Number(projected?.count) !== events) throw new Error(`audit_events holds ${projected?.count} rows, expected ${events}`)

  // Raw: the same audit rows, 1,000 per multi-row INSERT (each its own transaction), into a scratch table.
  await sql`create table bench_audit (like audit_events including all)`
  const rows = envelopes.flatMap(({ seq, envelope }) =>
    envelope.events.map((event, idx) => ({
      stream_seq: seq,
      idx,
      project_id: envelope.projectId,
      event_type: event.type,
      command_id: envelope.commandId,
      at: new Date(envelope.at),
      payload: JSON.stringify(event)
    }))
  )
  const t1 = now()
  for (let i = 0; i < rows.length; i += 1_000) {
    await sql`insert into bench_audit ${sql(rows.slice(i, i + 1_000), "stream_seq", "idx", "project_id", "event_type", "command_id", "at", "payload")}`
  }
  const rawS = (now() - t1) / 1000
  await sql.end()
  await nc.close()

  emit({
    workload: W,
    params: { events, envelopes: head, projects },
    figures: [
      figure(W, "events projected / s (standing start)", "ev/s", events / berthS, {
        value: rows.length / rawS,
        label: "raw multi-row INSERT of the audit rows, 1,000 per batch",
        target: ">= 0.5"
      })
    ],
    notes: [`${events.toLocaleString("en-US")} events in ${head.toLocaleString("en-US")} envelopes over ${projects} projects: Berth ${berthS.toFixed(2)} s, raw ${rawS.toFixed(2)} s`],
    elapsedMs: now() - started
  })
})
