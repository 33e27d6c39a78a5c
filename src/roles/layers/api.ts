/**
 * The API role: the status API over the read model, publishing commands to NATS. Its security
 * settings (admin token, allowed origins and hosts) are read once at start (src/auth/settings.ts).
 */
import { Effect, Layer, type Scope } from "effect"
import { ApiServer } from "../../api/server.js"
import { type AuthSettings, authSettings } from "../../auth/settings.js"
import { Nats } from "../../nats/Nats.js"
import { postgresCheck } from "../../health/checks.js"
import { HealthReporter } from "../../health/HealthReporter.js"
import { Database } from "../../projections/Database.js"
import { SecretsLive } from "../../secrets/Secrets.js"
import { requireUrl, type RoleEndpoints, type RoleStarted } from "./endpoints.js"

const checks = Effect.flatMap(Database, ({ sql }) => Effect.map(postgresCheck(sql), (postgres) => ({ postgres })))

const layer = (endpoints: RoleEndpoints, auth: AuthSettings) =>
  HealthReporter("api", checks).pipe(
    Layer.provideMerge(ApiServer.layer({ ...endpoints.api, auth })),
    Layer.provide(SecretsLive.fromConfig),
    Layer.provideMerge(requireUrl(endpoints.databaseUrl, "DATABASE_URL", "api")((url) => Database.layer(url, endpoints.database))),
    Layer.provideMerge(Nats.layer(endpoints.natsUrl, { waitForServer: true, streams: "bind", auth: endpoints.natsAuth }))
  )

/** Runs the role for the life of the scope. */
export const start = (endpoints: RoleEndpoints): Effect.Effect<RoleStarted, unknown, Scope.Scope> =>
  Effect.flatMap(authSettings(endpoints.api.host, endpoints.dataDir), (auth) =>
    Effect.as(Layer.build(layer(endpoints, auth)), { url: `http://${endpoints.api.host}:${endpoints.api.port}` }))
