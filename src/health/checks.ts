/**
 * The checks every role shares: NATS answers a round trip, PostgreSQL answers a query, each within a
 * short deadline, so a health check never hangs on the dependency it is checking.
 */
import { Duration, Effect } from "effect"
import type { NatsService } from "../nats/Nats.js"
import type { Sql } from "../projections/Database.js"
import type { Check } from "./RoleHealth.js"

const checkTimeout = Duration.seconds(2)

/** postgres.js and nats.js errors carry a code (ECONNREFUSED, CONNECTION_CLOSED) worth showing. */
const describe = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const code = "code" in cause && typeof cause.code === "string" ? cause.code : undefined
  return code === undefined || cause.message.includes(code) ? cause.message : `${code}: ${cause.message}`
}

const timed = (what: string, run: () => Promise<unknown>, ok: (ms: number) => string): Effect.Effect<Check> =>
  Effect.gen(function* () {
    const started = Date.now()
    return yield* Effect.tryPromise({ try: run, catch: (cause) => cause }).pipe(
      Effect.timeoutFail({ duration: checkTimeout, onTimeout: () => new Error(`${what} did not answer within ${Duration.format(checkTimeout)}`) }),
      Effect.match({
        onSuccess: () => ({ ok: true, detail: ok(Date.now() - started) }),
        onFailure: (error) => ({ ok: false, detail: `${what} unreachable: ${describe(error)}` })
      })
    )
  })

export const natsCheck = (nats: NatsService): Effect.Effect<Check> =>
  nats.nc.isClosed()
    ? Effect.succeed({ ok: false, detail: "NATS connection closed" })
    : timed("NATS", () => nats.nc.rtt(), (ms) => `round trip ${ms} ms`)

export const postgresCheck = (sql: Sql): Effect.Effect<Check> =>
  timed("PostgreSQL", () => sql`select 1`, (ms) => `query ${ms} ms`)
