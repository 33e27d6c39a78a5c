/**
 * krane-local refuses a CreateDeployment over Berth's Deploy limits (src/domain/limits.ts) with a
 * Connect invalid_argument naming the field, and accepts one at the limits, over its real HTTP wire.
 */
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SERVICE_PATH } from "../../src/adapters/krane/KraneWire.js"
import { startKraneLocal } from "../../src/adapters/krane/local/KraneLocalServer.js"
import { limits } from "../../src/domain/limits.js"
import { TEST_KRANE_SECRET, kraneAuthorization, tempDir } from "../support/kraneLocal.js"

let scope: Scope.CloseableScope
let url: string

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const server = await Effect.runPromise(
    Effect.gen(function* () {
      const dataDir = yield* tempDir("krane-local-limits-")
      return yield* startKraneLocal({ dataDir, gracePeriodMs: 500, secret: TEST_KRANE_SECRET })
    }).pipe(Scope.extend(scope))
  )
  url = server.url
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

/** An instance that exits at once: these tests are about the request, not the process. */
const quickExit = [process.execPath, "-e", "process.exit(0)"]

const create = async (deploymentId: string, fields: Record<string, unknown>) => {
  const response = await fetch(`${url}${SERVICE_PATH}/CreateDeployment`, {
    method: "POST",
    headers: { "content-type": "application/json", ...kraneAuthorization },
    body: JSON.stringify({ deployment: { namespace: "proj-limits", deploymentId, replicas: 1, ...fields } })
  })
  return { status: response.status, body: (await response.json()) as unknown }
}

const envOf = (entries: number) => Object.fromEntries(Array.from({ length: entries }, (_, i) => [`E${i}`, "v"]))

describe("krane-local CreateDeployment limits", () => {
  it.each([
    { name: "an image of 513 characters", fields: { image: "i".repeat(513) }, message: "deployment.image: at most 512 characters (got 513)" },
    {
      name: "65 command arguments",
      fields: { command: [...quickExit, ...Array(62).fill("a")] },
      message: "deployment.command: at most 64 arguments (got 65)"
    },
    {
      name: "an argument of 4097 bytes",
      fields: { command: [...quickExit, "a".repeat(4097)] },
      message: "deployment.command: argument 3 is at most 4 KiB (4096 bytes) (got 4097 bytes)"
    },
    { name: "257 env entries", fields: { command: quickExit, env: envOf(257) }, message: "deployment.env: at most 256 entries (got 257)" },
    {
      name: "env of 65537 bytes",
      fields: { command: quickExit, env: { A: "v".repeat(65_536) } },
      message: "deployment.env: names and values together are at most 64 KiB (65536 bytes) (got 65537 bytes)"
    }
  ])("$name: invalid_argument naming the field", async ({ name, fields, message }) => {
    const response = await create(`dep-over-${name.length}`, fields)
    expect(response).toEqual({ status: 400, body: { code: "invalid_argument", message } })
  })

  it("an image of 512 characters passes the limits (and meets krane-local's own refusal of images)", async () => {
    const response = await create("dep-image-512", { image: "i".repeat(limits.imageChars) })
    expect(response.body).toMatchObject({ code: "failed_precondition" })
  })

  it("a command of 64 arguments of up to 4 KiB, with 256 env entries, is created", async () => {
    const command = [...quickExit, ...Array(60).fill("a"), "a".repeat(limits.commandArgBytes)]
    expect(command).toHaveLength(limits.commandArgs)
    const response = await create("dep-at-limits", { command, env: envOf(limits.envEntries) })
    expect(response).toEqual({ status: 200, body: { status: "DEPLOYMENT_STATUS_PENDING" } })
  })
})
