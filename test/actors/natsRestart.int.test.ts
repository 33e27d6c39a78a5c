/**
 * The intake through a nats-server that is killed (-9) and started again on the same port and store:
 * commands published after the restart are decided within seconds, not after the client's own recovery
 * (a consumer check once JetStream answers, then missed heartbeats: 20-35 s in the chaos suite).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Logger, LogLevel, Scope } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { startNatsServer } from "../../src/local/NatsServer.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { connectClient, createProjectCommand, deployCommand, startOrchestrator } from "../support/orchestrator.js"
import { projectNatsConf } from "../support/servers.js"

const dir = mkdtempSync(join(tmpdir(), "berth-nats-restart-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const start = async (port?: number) => {
  const scope = Effect.runSync(Scope.make())
  const info = await Effect.runPromise(
    startNatsServer({ dataDir: join(dir, "nats"), configPath: projectNatsConf, ...(port === undefined ? {} : { port }) }).pipe(Scope.extend(scope))
  )
  return { info, close: () => Effect.runPromise(Scope.close(scope, Exit.void).pipe(Logger.withMinimumLogLevel(LogLevel.None))) }
}

describe("the intake through a nats-server restart", () => {
  it("decides commands published after nats-server was killed and restarted within seconds", async () => {
    let nats = await start()
    const krane = makeFakeKrane()
    const orchestrator = await startOrchestrator(nats.info.url, krane.layer)
    const client = await connectClient(nats.info.url)
    try {
      await client.publish("proj_before", createProjectCommand("proj_before"))
      await client.publish("proj_before", deployCommand("proj_before", "dep_before"))
      await client.waitForEvent("proj_before", (e) => e.type === "LiveSwitched", 30_000)

      process.kill(nats.info.pid, "SIGKILL")
      await nats.close()
      nats = await start(nats.info.port)

      const published = Date.now()
      // The client reconnects by itself too; retry its publish until JetStream answers again.
      for (;;) {
        try {
          await client.publish("proj_after", createProjectCommand("proj_after"))
          await client.publish("proj_after", deployCommand("proj_after", "dep_after"))
          break
        } catch (error) {
          if (Date.now() - published > 20_000) throw error
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
      }
      await client.waitForEvent("proj_after", (e) => e.type === "LiveSwitched", 30_000)
      // Well under the ack wait plus a heartbeat cycle the client's own recovery needed.
      expect(Date.now() - published).toBeLessThan(12_000)
    } finally {
      await client.close()
      await orchestrator.stop()
      await nats.close()
    }
  })
})
