/**
 * The projector role: BERTH_EVENTS into the PostgreSQL read model. Reports PostgreSQL's reachability
 * and how far behind the stream it is.
 */
import { Effect, Layer } from "effect"
import { Nats } from "../../eventstore/Nats.js"
import { streams } from "../../eventstore/subjects.js"
import { postgresCheck } from "../../health/checks.js"
import { HealthReporter } from "../../health/HealthReporter.js"
import type { Check } from "../../health/RoleHealth.js"
import { Database } from "../../projections/Database.js"
import { Projector } from "../../projections/Projector.js"
import { requireUrl, type RoleEndpoints } from "./endpoints.js"

/** Behind by how many stream messages: the stream's last sequence minus the checkpoint. */
const checks = Effect.gen(function* () {
  const { sql } = yield* Database
  const { jsm } = yield* Nats
  const projector = yield* Projector
  const postgres = yield* postgresCheck(sql)
  const checkpoint = yield* projector.checkpoint
  const lag = yield* Effect.tryPromise(() => jsm.streams.info(streams.events)).pipe(
    Effect.timeout("2 seconds"),
    Effect.map((info): Check => ({ ok: true, detail: `${Math.max(0, info.state.last_seq - checkpoint)} message(s) behind (checkpoint ${checkpoint})` })),
    Effect.catchAll(() => Effect.succeed<Check>({ ok: false, detail: "cannot read BERTH_EVENTS" }))
  )
  return { postgres, lag } satisfies Record<string, Check>
})

export const layer = (endpoints: RoleEndpoints) =>
  HealthReporter("projector", checks).pipe(
    Layer.provideMerge(Projector.layer()),
    Layer.provideMerge(requireUrl(endpoints.databaseUrl, "DATABASE_URL", "projector")((url) => Database.layer(url, endpoints.database))),
    Layer.provideMerge(Nats.layer(endpoints.natsUrl, { waitForServer: true }))
  )
