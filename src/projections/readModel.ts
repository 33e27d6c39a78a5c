/**
 * The projector's bookkeeping in PostgreSQL: reading the checkpoint and resetting the read model
 * (every table emptied and the checkpoint back to 0, in one transaction) for a rebuild.
 */
import { Effect } from "effect"
import { type DatabaseError, query, type Sql, type TxSql } from "./Database.js"

/** The checkpoint row the read-model projector owns. */
export const checkpointName = "read_model"

export const readModelTables = [
  "projects",
  "environments",
  "deployments",
  "deployment_steps",
  "instances",
  "domains",
  "openapi_specs",
  "audit_events",
  "live_history"
] as const

export const readCheckpoint = (sql: Sql | TxSql, name: string = checkpointName): Effect.Effect<number, DatabaseError> =>
  query("read checkpoint", () => sql<Array<{ stream_seq: string }>>`
    select stream_seq::text from projection_checkpoints where name = ${name}`).pipe(
    Effect.map((rows) => Number(rows[0]?.stream_seq ?? 0))
  )

/** Empties the read model and resets the checkpoint atomically: the next projector run replays from 1. */
export const resetReadModel = (sql: Sql, name: string = checkpointName): Effect.Effect<void, DatabaseError> =>
  query("reset read model", () =>
    sql.begin(async (tx) => {
      await tx.unsafe(`truncate table ${readModelTables.join(", ")}`) // constant names only
      await tx`insert into projection_checkpoints (name, stream_seq) values (${name}, 0)
        on conflict (name) do update set stream_seq = 0`
    })
  ).pipe(Effect.tap(() => Effect.logInfo("read model reset")), Effect.withSpan("projections.reset"))
