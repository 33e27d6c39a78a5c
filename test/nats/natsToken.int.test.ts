/**
 * Berth against an external nats-server that wants a token (NATS_TOKEN): with it Berth connects and
 * sets up its streams; without it, or with a wrong one, the connection is refused. Conflicting
 * credential settings stop a role process with the configuration exit code (78, not restarted).
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Cause, Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Nats, type NatsLayerOptions } from "../../src/nats/Nats.js"
import { streams } from "../../src/nats/subjects.js"
import { configurationExitCode } from "../../src/roles/roles.js"
import { startTestNats, type TestNats } from "../support/servers.js"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))
const token = "a-token-only-berth-knows-0123456789"
let nats: TestNats

beforeAll(async () => {
  nats = await startTestNats({ token })
})
afterAll(async () => {
  await nats?.stop()
})

/** Connects as Berth does (ensuring the streams) and answers with the events stream's name. */
const connectWith = (options: NatsLayerOptions) =>
  Effect.runPromiseExit(
    Effect.gen(function* () {
      const { jsm } = yield* Nats
      return (yield* Effect.promise(() => jsm.streams.info(streams.events))).config.name
    }).pipe(Effect.provide(Nats.layer(nats.url, options)))
  )

describe("a token-protected nats-server", () => {
  it("accepts Berth with NATS_TOKEN, which sets up its streams", async () => {
    const exit = await connectWith({ auth: { auth: { _tag: "Token", token } } })
    expect(exit).toEqual(Exit.succeed(streams.events))
  })

  it("refuses Berth without the token or with a wrong one", async () => {
    for (const auth of [undefined, { auth: { _tag: "Token", token: "wrong" } } as const]) {
      const exit = await connectWith(auth === undefined ? {} : { auth })
      const outcome = Exit.match(exit, {
        onFailure: (cause) => {
          const error = Cause.squash(cause)
          return error instanceof Error ? error.message : String(error)
        },
        onSuccess: () => "connected"
      })
      expect(outcome).toBe(`connect to NATS at ${nats.url}: Authorization Violation`)
    }
  })

  /** A role process as the supervisor runs it, with `env`: its exit code and output. */
  const runRole = async (env: Record<string, string>) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/roles/process.ts", "gateway"], {
      cwd: projectRoot,
      env: { ...process.env, NATS_URL: nats.url, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve))
    return { code, output }
  }

  it("stops a role given two kinds of credentials with the configuration exit code", async () => {
    expect(await runRole({ NATS_TOKEN: token, NATS_USER: "gateway", NATS_PASSWORD: "pw" })).toMatchObject({
      code: configurationExitCode,
      output: expect.stringContaining("give one of NATS_CREDS, NATS_USER + NATS_PASSWORD or NATS_TOKEN, not NATS_USER/NATS_PASSWORD and NATS_TOKEN")
    })
  })

  it("stops a role whose credentials the server refuses with the configuration exit code (not restarted)", async () => {
    expect(await runRole({ NATS_TOKEN: "not-the-token" })).toMatchObject({
      code: configurationExitCode,
      output: expect.stringContaining("configuration error: NATS refused this role's credentials (Authorization Violation)")
    })
  })
})
