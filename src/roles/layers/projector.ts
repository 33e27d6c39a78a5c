/**
 * The projector role: BERTH_EVENTS into the PostgreSQL read model. Reports PostgreSQL's reachability
 * and how far behind the stream it is.
 */
import { Console, Context, Effect, Layer, type Scope } from "effect"
import { Nats } from "../../nats/Nats.js"
import { streams } from "../../nats/subjects.js"
import { postgresCheck } from "../../health/checks.js"
import { HealthReporter } from "../../health/HealthReporter.js"
import type { Check } from "../../health/RoleHealth.js"
import { Database } from "../../projections/Database.js"
import { Projector } from "../../projections/Projector.js"
import { requireUrl, type RoleEndpoints, type RoleStarted } from "./endpoints.js"

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

const layer = (endpoints: RoleEndpoints) =>
  HealthReporter("projector", checks).pipe(
    Layer.provideMerge(Projector.layer()),
    Layer.provideMerge(requireUrl(endpoints.databaseUrl, "DATABASE_URL", "projector")((url) => Database.layer(url, endpoints.database))),
    Layer.provideMerge(Nats.layer(endpoints.natsUrl, { waitForServer: true, streams: "bind", auth: endpoints.natsAuth }))
  )

/** Runs the role for the life of the scope; rebuilds the read model first when asked to. */
export const start = (endpoints: RoleEndpoints): Effect.Effect<RoleStarted, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(layer(endpoints))
    if (endpoints.rebuildReadModel) {
      const projector = Context.get(context, Projector)
      yield* Console.log("rebuilding the read model from BERTH_EVENTS …")
      yield* projector.rebuild
      yield* Console.log(`read model rebuilt up to stream sequence ${yield* projector.checkpoint}`)
    }
    return {}
  })
