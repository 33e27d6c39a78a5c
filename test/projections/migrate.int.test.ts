/**
 * Migrations: applied once, in order, recorded in schema_migrations, even when two processes race.
 */
import { Effect } from "effect"
import postgres from "postgres"
import { expect, it } from "vitest"
import { loadMigrations, migrateWith } from "../../src/projections/migrate.js"
import { freshDatabase } from "../support/servers.js"

it("applies each migration once when two migrators race", async () => {
  const url = await freshDatabase("mig")
  const a = postgres(url, { onnotice: () => {} })
  const b = postgres(url, { onnotice: () => {} })
  try {
    const [ranA, ranB] = await Promise.all([Effect.runPromise(migrateWith(a)), Effect.runPromise(migrateWith(b))])
    expect([...ranA, ...ranB].sort()).toEqual([1, 2, 3, 4, 5])
    expect(await a`select version, name from schema_migrations order by version`).toEqual([
      { version: 1, name: "read_model" },
      { version: 2, name: "rollback_cancel" },
      { version: 3, name: "hot_updates" },
      { version: 4, name: "tenant_keys" },
      { version: 5, name: "audit_actor" }
    ])
    expect(await Effect.runPromise(migrateWith(a))).toEqual([])
  } finally {
    await a.end()
    await b.end()
  }
})

it("004_tenant_keys gives rows written before it their project, and keys them by (project, deployment)", async () => {
  const sql = postgres(await freshDatabase("mig4"), { onnotice: () => {} })
  try {
    // The read model as migrations 1-3 left it, with rows the projector wrote then.
    const migrations = await Effect.runPromise(loadMigrations)
    await sql.begin(async (tx) => {
      await tx`create table schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())`
      for (const migration of migrations.filter((m) => m.version < 4)) {
        await tx.unsafe(migration.sql)
        await tx`insert into schema_migrations (version, name) values (${migration.version}, ${migration.name})`
      }
    })
    const at = new Date("2026-12-01T00:00:00Z")
    await sql`insert into deployments (deployment_id, project_id, environment_id, status, source, replicas, port, created_at, updated_at)
      values ('dep_1', 'proj_a', 'env_prod', 'ready', '{"image":"a"}', 1, 8080, ${at}, ${at})`
    await sql`insert into deployment_steps (deployment_id, step, started_at) values ('dep_1', 'build', ${at}), ('dep_gone', 'build', ${at})`
    await sql`insert into instances (instance_id, deployment_id, address, status, updated_at) values ('i0', 'dep_1', '10.0.0.1:8080', 'RUNNING', ${at})`
    await sql`insert into openapi_specs (deployment_id, path, object_name, size_bytes, sha256, captured_at)
      values ('dep_1', '/openapi.yaml', 'dep_1', 1, 'ab', ${at})`

    expect(await Effect.runPromise(migrateWith(sql))).toEqual(migrations.filter((m) => m.version >= 4).map((m) => m.version))

    expect(await sql`select project_id, deployment_id, step from deployment_steps`).toEqual([{ project_id: "proj_a", deployment_id: "dep_1", step: "build" }])
    expect(await sql`select project_id, deployment_id, instance_id from instances`).toEqual([{ project_id: "proj_a", deployment_id: "dep_1", instance_id: "i0" }])
    expect(await sql`select project_id, deployment_id from openapi_specs`).toEqual([{ project_id: "proj_a", deployment_id: "dep_1" }])
    // Another project may now have its own dep_1, with its own steps, instances and document.
    await sql`insert into deployments (deployment_id, project_id, environment_id, status, source, replicas, port, created_at, updated_at)
      values ('dep_1', 'proj_b', 'env_prod', 'pending', '{"image":"b"}', 1, 8080, ${at}, ${at})`
    await sql`insert into deployment_steps (project_id, deployment_id, step, started_at) values ('proj_b', 'dep_1', 'build', ${at})`
    await sql`insert into instances (project_id, instance_id, deployment_id, address, status, updated_at)
      values ('proj_b', 'i0', 'dep_1', '10.0.0.2:8080', 'PENDING', ${at})`
    expect(await sql`select project_id, status from deployments where deployment_id = 'dep_1' order by project_id`).toEqual([
      { project_id: "proj_a", status: "ready" },
      { project_id: "proj_b", status: "pending" }
    ])
    await expect(sql`insert into deployments (deployment_id, project_id, environment_id, status, source, replicas, port, created_at, updated_at)
      values ('dep_1', 'proj_b', 'env_prod', 'pending', '{"image":"b"}', 1, 8080, ${at}, ${at})`).rejects.toThrow(/duplicate key/)
  } finally {
    await sql.end()
  }
})
