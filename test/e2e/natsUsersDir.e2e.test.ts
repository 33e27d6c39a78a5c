/**
 * Berth on an external nats-server with users (configured as `berth nats config` describes), one
 * `berth up` running every role: BERTH_NATS_USERS_DIR gives each role its own user, so each works
 * within its own permissions (the server logs no violation) and a publisher's deploy goes live.
 */
import { readFileSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type AppServer, startAppServer } from "../support/appServer.js"
import { type BerthProcess, startBerth } from "../support/berthProcess.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { type FakeKraneHttpServer, startFakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"
import { type Client, connectClient, createProjectCommand, deployCommand } from "../support/orchestrator.js"
import { freshDatabase, startTestNatsWithUsers, type TestNatsWithUsers } from "../support/servers.js"

let nats: TestNatsWithUsers
let berth: BerthProcess | undefined
let app: AppServer
let krane: FakeKraneHttpServer
let publisher: Client | undefined

beforeAll(async () => {
  nats = await startTestNatsWithUsers()
  app = await startAppServer()
  krane = await startFakeKraneHttpServer({ krane: makeFakeKrane() })
  krane.krane.setInstanceAddress(() => app.address)
})
afterAll(async () => {
  await publisher?.close()
  await berth?.kill()
  await krane?.close()
  await app?.close()
  await nats?.stop()
})

describe("an external nats-server with users", () => {
  it("runs every role as its own user from BERTH_NATS_USERS_DIR and deploys", async () => {
    berth = await startBerth({ NATS_URL: nats.url, BERTH_NATS_USERS_DIR: nats.natsDir, DATABASE_URL: await freshDatabase("e2e_users"), KRANE_URL: krane.url })
    const { auth } = nats.clients.publisher
    if (auth._tag !== "UserPassword") throw new Error("the publisher has a password")
    publisher = await connectClient(nats.url, { user: auth.user, pass: auth.password, inboxPrefix: "_INBOX_publisher" })
    await publisher.publish("proj_ext", createProjectCommand("proj_ext"))
    await publisher.publish("proj_ext", deployCommand("proj_ext", "dep_ext_1"))
    await publisher.waitForEvent("proj_ext", (event) => event.type === "LiveSwitched", 60_000)

    const deadline = Date.now() + 30_000
    let report = { missing: ["?"] as ReadonlyArray<string> }
    while (report.missing.length > 0 && Date.now() < deadline) {
      report = (await (await fetch(`${berth.api}/readyz`)).json()) as { missing: ReadonlyArray<string> }
      if (report.missing.length > 0) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(report.missing).toEqual([])
    const violations = readFileSync(nats.logFile, "utf8").split("\n").filter((line) => /Violation/.test(line))
    expect(violations).toEqual([])
  })
})
