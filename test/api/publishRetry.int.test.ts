/**
 * The API's command publish rides out a commands stream that answers nothing for a moment (a cluster
 * electing the stream's leader after a node died), and still answers 503 — within seconds — when it
 * stays away (real nats-server).
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Either, Layer, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { publishCommand } from "../../src/api/publish.js"
import { CurrentCaller } from "../../src/api/security.js"
import { ActorKey } from "../../src/auth/actor.js"
import { ensureStreams, Nats } from "../../src/nats/Nats.js"
import { streams } from "../../src/nats/subjects.js"
import { testActorKey } from "../support/auth.js"
import { startTestNats, type TestNats } from "../support/servers.js"

let server: TestNats
let nc: NatsConnection

beforeAll(async () => {
  server = await startTestNats()
  nc = await connect({ servers: server.url })
})

afterAll(async () => {
  await nc.close()
  await server.stop()
})

const publish = (commandId: string) =>
  Effect.runPromise(
    publishCommand({ type: "Deploy", commandId, projectId: "proj_retry", deploymentId: `dep_${commandId}`, environmentId: "env_prod" }).pipe(
      Effect.either,
      Effect.provide(
        Layer.mergeAll(
          Nats.layer(server.url, { streams: "bind" }),
          Layer.succeed(ActorKey, Redacted.make(testActorKey)),
          Layer.succeed(CurrentCaller, { tokenId: "tok_test", workspace: null, role: "admin" })
        )
      ),
      Effect.scoped
    )
  )

describe("publishing a command from the API", () => {
  it("waits for a commands stream that comes back within a second, and stores the command once", async () => {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete(streams.commands).catch(() => false)
    const answer = publish("cmd_back")
    await new Promise((resolve) => setTimeout(resolve, 700))
    await Effect.runPromise(ensureStreams(jsm))
    const published = await answer
    expect(Either.isRight(published)).toBe(true)
    expect((await jsm.streams.info(streams.commands)).state.messages).toBe(1)
  })

  it("answers 503 within seconds when the stream stays away", async () => {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete(streams.commands)
    const started = Date.now()
    const published = await publish("cmd_gone")
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(Either.isLeft(published) && published.left._tag).toBe("ServiceUnavailable")
    await Effect.runPromise(ensureStreams(jsm))
  })
})
