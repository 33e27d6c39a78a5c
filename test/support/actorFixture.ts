/**
 * The shared set-up of the orchestrator integration tests: one nats-server, a plain NATS client (as a
 * publishing service would use) and an app server standing in for instances, for the whole file.
 */
import { afterAll, beforeAll } from "vitest"
import { startAppServer, type AppServer } from "./appServer.js"
import { connectClient, type Client } from "./orchestrator.js"
import { startTestNats, type TestNats } from "./servers.js"

export interface ActorFixture {
  readonly nats: TestNats
  readonly client: Client
  readonly app: AppServer
}

/** Registers beforeAll/afterAll; read the returned object's fields inside tests. */
export const useActorFixture = (): ActorFixture => {
  const fixture = {} as { nats: TestNats; client: Client; app: AppServer }
  beforeAll(async () => {
    fixture.nats = await startTestNats()
    fixture.client = await connectClient(fixture.nats.url)
    fixture.app = await startAppServer()
  })
  afterAll(async () => {
    await fixture.client?.close()
    await fixture.app?.close()
    await fixture.nats?.stop()
  })
  return fixture
}
