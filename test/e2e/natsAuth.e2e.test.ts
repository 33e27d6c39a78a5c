/**
 * NATS users as `npm start` sets them up: Berth runs its own nats-server with one user per role. A
 * client without credentials is refused; a service with the `publisher` password (generated under
 * the data dir, owner-only) deploys as before but cannot append events; every role does its whole job
 * within its permissions (the server logs no violation by any of Berth's own users).
 */
import { spawn } from "node:child_process"
import { readFileSync, statSync } from "node:fs"
import { get as httpGet } from "node:http"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { connect } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type AppServer, startAppServer } from "../support/appServer.js"
import { type BerthProcess, startBerth } from "../support/berthProcess.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { type FakeKraneHttpServer, startFakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"
import { type Client, connectClient, createProjectCommand, deployCommand, hostOf } from "../support/orchestrator.js"
import { freshDatabase } from "../support/servers.js"

let berth: BerthProcess
let app: AppServer
let krane: FakeKraneHttpServer
let publisher: Client | undefined

beforeAll(async () => {
  app = await startAppServer()
  krane = await startFakeKraneHttpServer({ krane: makeFakeKrane() })
  krane.krane.setInstanceAddress(() => app.address)
  berth = await startBerth({ DATABASE_URL: await freshDatabase("e2e_nats"), KRANE_URL: krane.url })
})
afterAll(async () => {
  await publisher?.close()
  await berth?.kill()
  await krane?.close()
  await app?.close()
})

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))
const natsDir = () => join(berth.dataDir, "nats")

/** A GET through the gateway with the given Host header. */
const through = (host: string, path: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = httpGet(`${berth.gateway}${path}`, { headers: { host } }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
    })
    request.on("error", reject)
  })

const eventually = async <A>(probe: () => Promise<A>, done: (value: A) => boolean, what: string, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  let last = await probe()
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    last = await probe()
  }
  return last
}

describe("NATS users of npm start", () => {
  it("refuses a connection without credentials", async () => {
    const attempt = connect({ servers: berth.natsUrl(), reconnect: false, timeout: 3_000 })
    await expect(attempt).rejects.toThrow(/Authorization Violation/)
  })

  it("keeps the generated passwords and the server config readable by their owner only", () => {
    for (const file of ["publisher.password", "orchestrator.password", "gateway.password", "nats-server.conf"]) {
      expect({ file, mode: (statSync(join(natsDir(), file)).mode & 0o777).toString(8) }).toEqual({ file, mode: "600" })
    }
  })

  it("lets `npm run send` publish as the local publisher user without any setting", async () => {
    const { NATS_URL: _url, NATS_USER: _user, NATS_PASSWORD: _password, NATS_TOKEN: _token, NATS_CREDS: _creds, ...env } = process.env
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/send.ts", JSON.stringify(createProjectCommand("proj_send"))], {
      cwd: projectRoot,
      env: { ...env, BERTH_DATA_DIR: berth.dataDir },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve))
    expect({ code, output }).toMatchObject({ code: 0, output: expect.stringContaining("ProjectCreated") })
  })

  it("takes a publisher's commands to a live deployment, refuses its event appends, and every role works within its permissions", async () => {
    const password = readFileSync(join(natsDir(), "publisher.password"), "utf8").trim()
    publisher = await connectClient(berth.natsUrl(), { user: "publisher", pass: password, inboxPrefix: "_INBOX_publisher" })
    await publisher.publish("proj_auth", createProjectCommand("proj_auth"))
    await publisher.publish("proj_auth", deployCommand("proj_auth", "dep_auth_1"))
    await publisher.waitForEvent("proj_auth", (event) => event.type === "LiveSwitched", 60_000)

    // The gateway read the route the orchestrator wrote: the live hostname reaches the app.
    const answer = await eventually(() => through(hostOf("proj_auth"), "/openapi.yaml"), (a) => a.status === 200, "the live hostname to answer")
    expect(answer.body).toContain("openapi: 3.0.0")

    // Every role wrote its health report and the API read them (each with its own NATS user).
    const readiness = await eventually(
      async () => (await (await fetch(`${berth.api}/readyz`)).json()) as { missing: ReadonlyArray<string>; roles: ReadonlyArray<{ role: string }> },
      (report) => report.missing.length === 0,
      "every role to report"
    )
    // One report per role process: a role the supervisor restarted under load keeps its previous
    // process's report until that expires, so compare the set of roles.
    expect([...new Set(readiness.roles.map((report) => report.role))].sort()).toEqual(["api", "gateway", "orchestrator", "projector"])

    // The projector read the events (and the scraped OpenAPI document) into the read model.
    const deployment = await eventually(
      async () => {
        const response = await fetch(`${berth.api}/v1/deployments/dep_auth_1`, { headers: berth.headers })
        return { status: response.status, body: (await response.json()) as Record<string, unknown> }
      },
      (response) => response.status === 200 && response.body["isLive"] === true,
      "dep_auth_1 to be live in the read model"
    )
    expect(deployment.body).toMatchObject({ status: "ready", isLive: true, openApiCaptured: true })

    await expect(publisher.publishRaw("berth.evt.proj_auth", "{}")).rejects.toThrow('Permissions Violation for Publish to "berth.evt.proj_auth"')

    // The server logs each refused operation with its user: none by Berth's own roles.
    const violations = readFileSync(join(natsDir(), "nats-server.log"), "utf8")
      .split("\n")
      .filter((line) => /Violation/.test(line))
    expect(violations.map((line) => line.replace(/^.* - (\w+ Violation)/, "$1"))).toEqual([
      'Publish Violation - User "publisher", Subject "berth.evt.proj_auth"'
    ])
  })
})
