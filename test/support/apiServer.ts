/**
 * The status API as the int tests run it: the API and the projector in one runtime on real NATS and
 * PostgreSQL, listening on a free port, with the test tokens and the test secrets key.
 */
import { HttpServer } from "@effect/platform"
import { Effect, Layer, ManagedRuntime } from "effect"
import { ApiServer } from "../../src/api/server.js"
import type { AuthSettings } from "../../src/auth/settings.js"
import { Nats } from "../../src/nats/Nats.js"
import { Database } from "../../src/projections/Database.js"
import { Projector } from "../../src/projections/Projector.js"
import { testSecurity } from "./auth.js"
import { testSecrets } from "./secrets.js"

export type TestApi = ManagedRuntime.ManagedRuntime<HttpServer.HttpServer | Projector | Database | Nats, unknown>

export const startTestApi = async (
  natsUrl: string,
  databaseUrl: string,
  auth: AuthSettings = testSecurity()
): Promise<{ readonly api: TestApi; readonly base: string }> => {
  const api: TestApi = ManagedRuntime.make(
    Layer.mergeAll(ApiServer.layer({ port: 0, auth }).pipe(Layer.provide(testSecrets)), Projector.layer()).pipe(
      Layer.provideMerge(Layer.merge(Nats.layer(natsUrl), Database.layer(databaseUrl)))
    )
  )
  const address = await api.runPromise(Effect.map(HttpServer.HttpServer, (s) => s.address))
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return { api, base: `http://127.0.0.1:${address.port}` }
}
