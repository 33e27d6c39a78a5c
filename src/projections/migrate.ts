/**
 * Schema migrations for the read model: `migrations/NNN_name.sql`, applied in version order, each in
 * its own transaction under a transaction-scoped advisory lock (so concurrent processes serialise and
 * the loser sees the migration already recorded), recorded in `schema_migrations`.
 */
import { readdir, readFile } from "node:fs/promises"
import { Effect } from "effect"
import { Database, DatabaseError, query, type Sql } from "./Database.js"

/** Arbitrary constant: the advisory lock key Berth's migrations take. */
const lockKey = 728_011_042

export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

const migrationsDir = new URL("./migrations/", import.meta.url)

export const loadMigrations: Effect.Effect<ReadonlyArray<Migration>, DatabaseError> = query("read migrations", async () => {
  const files = (await readdir(migrationsDir)).filter((f) => /^\d+_.+\.sql$/.test(f))
  const migrations = await Promise.all(
    files.map(async (file) => {
      const match = /^(\d+)_(.+)\.sql$/.exec(file)
      return {
        version: Number(match?.[1]),
        name: match?.[2] ?? file,
        sql: await readFile(new URL(file, migrationsDir), "utf8")
      }
    })
  )
  return migrations.sort((a, b) => a.version - b.version)
})

const applyOne = (sql: Sql, migration: Migration) =>
  query(`migration ${migration.version}_${migration.name}`, () =>
    sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${lockKey})`
      await tx`create table if not exists schema_migrations (
        version integer primary key, name text not null, applied_at timestamptz not null default now())`
      const done = await tx`select 1 from schema_migrations where version = ${migration.version}`
      if (done.length > 0) return false
      await tx.unsafe(migration.sql)
      await tx`insert into schema_migrations (version, name) values (${migration.version}, ${migration.name})`
      return true
    })
  )

/** Applies the pending migrations; returns the versions this call applied. */
export const migrateWith = (sql: Sql): Effect.Effect<ReadonlyArray<number>, DatabaseError> =>
  Effect.gen(function*() {
    const applied: Array<number> = []
    for (const migration of yield* loadMigrations) {
      if (yield* applyOne(sql, migration)) {
        applied.push(migration.version)
        yield* Effect.logInfo("migration applied").pipe(Effect.annotateLogs({ version: migration.version, name: migration.name }))
      }
    }
    return applied
  }).pipe(Effect.withSpan("projections.migrate"))

export const migrate: Effect.Effect<ReadonlyArray<number>, DatabaseError, Database> = Effect.flatMap(Database, ({ sql }) => migrateWith(sql))
