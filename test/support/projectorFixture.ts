/**
 * The shared set-up of the projector integration tests: one nats-server and a JetStream client for the
 * whole file; per test, an empty BERTH_EVENTS stream (sequences from 1) and a fresh database with a
 * client on it. Projectors run in a ManagedRuntime that also offers their Database and Nats, so a test
 * can run read-model queries through it.
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { type Duration, Effect, Layer, ManagedRuntime } from "effect"
import postgres from "postgres"
import { afterAll, beforeAll, beforeEach } from "vitest"
import { ensureStreams, Nats } from "../../src/nats/Nats.js"
import { streams } from "../../src/nats/subjects.js"
import { Database } from "../../src/projections/Database.js"
import { Projector, type ProjectorOptions } from "../../src/projections/Projector.js"
import { readModelTables } from "../../src/projections/readModel.js"
import { freshDatabase, startTestNats, type TestNats } from "./servers.js"

export interface ProjectorFixture {
  readonly nats: TestNats
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** This test's database, and a client on it. */
  readonly dbUrl: string
  readonly sql: postgres.Sql
}

/** Registers the hooks (`prefix` names the databases); read the returned object's fields inside tests. */
export const useProjectorFixture = (prefix: string): ProjectorFixture => {
  const fixture = {} as { nats: TestNats; nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; dbUrl: string; sql: postgres.Sql }
  beforeAll(async () => {
    fixture.nats = await startTestNats()
    fixture.nc = await connect({ servers: fixture.nats.url })
    fixture.js = jetstream(fixture.nc)
    fixture.jsm = await jetstreamManager(fixture.nc)
  })
  beforeEach(async () => {
    await fixture.jsm.streams.delete(streams.events).catch(() => false)
    await Effect.runPromise(ensureStreams(fixture.jsm))
    await fixture.sql?.end()
    fixture.dbUrl = await freshDatabase(prefix)
    fixture.sql = postgres(fixture.dbUrl, { onnotice: () => {} })
  })
  afterAll(async () => {
    await fixture.sql?.end()
    await fixture.nc?.close()
    await fixture.nats?.stop()
  })
  return fixture
}

/** A projector on `dbUrl` (this test's database unless given), started in a runtime of its own. */
export const startProjector = (fixture: ProjectorFixture, options: ProjectorOptions = {}, dbUrl: string = fixture.dbUrl) =>
  ManagedRuntime.make(Projector.layer(options).pipe(Layer.provideMerge(Layer.merge(Nats.layer(fixture.nats.url), Database.layer(dbUrl)))))

export type ProjectorRuntime = ReturnType<typeof startProjector>

/** Completes once the projector in `rt` applied stream sequence `seq`. */
export const waitForSeq = (rt: ProjectorRuntime, seq: number, timeout: Duration.DurationInput = "15 seconds") =>
  rt.runPromise(Effect.flatMap(Projector, (p) => p.waitFor(seq)).pipe(Effect.timeout(timeout)))

/** Each read-model table's primary key columns, to order and match rows by. */
export const primaryKeys: Readonly<Record<(typeof readModelTables)[number], string>> = {
  projects: "project_id",
  environments: "project_id, environment_id",
  deployments: "project_id, deployment_id",
  deployment_steps: "project_id, deployment_id, step",
  instances: "project_id, deployment_id, instance_id",
  domains: "hostname",
  openapi_specs: "project_id, deployment_id",
  audit_events: "stream_seq, idx",
  live_history: "project_id, stream_seq"
}

/** Every read-model table's rows, by primary key. */
export const dumpReadModel = async (sql: postgres.Sql) =>
  Object.fromEntries(
    await Promise.all(readModelTables.map(async (t) => [t, await sql.unsafe(`select * from ${t} order by ${primaryKeys[t]}`)] as const))
  )
