/**
 * Migrations: applied once, in order, recorded in schema_migrations, even when two processes race.
 */
import { Effect } from "effect"
import postgres from "postgres"
import { expect, it } from "vitest"
import { migrateWith } from "../../src/projections/migrate.js"
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
