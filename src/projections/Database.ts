/**
 * The read-model database as a service: one postgres.js pool built from a URL, ended when the
 * layer's scope closes.
 */
import { Context, Data, Duration, Effect, Layer } from "effect"
import postgres from "postgres"

export type Sql = postgres.Sql
export type TxSql = postgres.TransactionSql

/** A statement with its parameters already serialised, sent when called inside a transaction. */
export type Statement = (tx: TxSql) => Promise<unknown>

export class DatabaseError extends Data.TaggedError("DatabaseError")<{ readonly operation: string; readonly cause: unknown }> {
  override get message(): string {
    return `${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/** Runs a postgres.js promise, failing with a DatabaseError naming the operation. */
export const query = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, DatabaseError> =>
  Effect.tryPromise({ try: run, catch: (cause) => new DatabaseError({ operation, cause }) })

export interface DatabaseOptions {
  /** Pool size; default 10. The projector holds two connections while it runs (reads, commits). */
  readonly max?: number
  /** PostgreSQL's statement_timeout for every statement; default 30 s. Nothing waits on a stuck query forever. */
  readonly statementTimeout?: Duration.DurationInput
  /** How long opening a connection may take; default 5 s. */
  readonly connectTimeout?: Duration.DurationInput
}

export class Database extends Context.Tag("berth/Database")<Database, { readonly sql: Sql }>() {
  static layer(url: string, options: DatabaseOptions = {}): Layer.Layer<Database> {
    return Layer.scoped(
      Database,
      Effect.acquireRelease(
        Effect.sync(() => ({
          sql: postgres(url, {
            max: options.max ?? 10,
            onnotice: () => {},
            connect_timeout: Math.max(1, Math.round(Duration.toSeconds(options.connectTimeout ?? Duration.seconds(5)))),
            connection: { statement_timeout: Duration.toMillis(options.statementTimeout ?? Duration.seconds(30)) }
          })
        })),
        ({ sql }) => Effect.promise(() => sql.end({ timeout: 5 }))
      )
    )
  }
}
