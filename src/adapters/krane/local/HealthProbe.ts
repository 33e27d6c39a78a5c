/**
 * The readiness probe krane-local runs against an instance: one HTTP GET on its port.
 */
import { get } from "node:http"
import { Effect } from "effect"

/**
 * GET http://127.0.0.1:<port><path>: healthy when anything below 500 answers in time. No keep-alive
 * (agent: false, connection: close) so we never hold an idle socket that would delay the app's own
 * graceful `server.close()`.
 */
export const probeHealth = (port: number, path: string, timeoutMs = 1_000): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    let settled = false
    const settle = (healthy: boolean) => {
      if (settled) return
      settled = true
      resume(Effect.succeed(healthy))
    }
    const request = get(
      { host: "127.0.0.1", port, path, agent: false, headers: { connection: "close" }, timeout: timeoutMs },
      (response) => {
        settle((response.statusCode ?? 500) < 500)
        response.destroy()
      }
    )
    request.on("timeout", () => request.destroy(new Error("health check timed out")))
    request.on("error", () => settle(false))
    return Effect.sync(() => {
      settled = true
      request.destroy()
    })
  })
