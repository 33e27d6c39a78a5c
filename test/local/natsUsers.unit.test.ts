/**
 * The NATS users of Berth's own server across restarts: passwords are generated once and kept (a
 * restart must not lock out a role still running with the old one); the server config is rewritten
 * from the permission table at every start, so a hand edit (a widened permission) does not survive.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { natsUsers } from "../../src/nats/permissions.js"
import { passwordFile, prepareNatsUsers, usersDirClients } from "../../src/local/natsUsers.js"
import { projectNatsConf } from "../support/servers.js"

const dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
const natsDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-nats-users-"))
  dirs.push(dir)
  return join(dir, "nats")
}
const prepare = (dir: string) => Effect.runPromise(prepareNatsUsers(dir, projectNatsConf))

describe("Berth's own NATS users", () => {
  it("generates a distinct password per user once and keeps them across starts", async () => {
    const dir = natsDir()
    const first = await prepare(dir)
    const second = await prepare(dir)
    expect(second.clients).toEqual(first.clients)
    const passwords = natsUsers.map((user) => readFileSync(passwordFile(dir, user), "utf8").trim())
    expect(new Set(passwords).size).toBe(natsUsers.length)
    expect(first.clients.gateway).toEqual({
      auth: { _tag: "UserPassword", user: "gateway", password: passwords[natsUsers.indexOf("gateway")] },
      inboxPrefix: "_INBOX_gateway"
    })
  })

  it("rewrites the server config at every start, owner-only, with the project's nats.conf and every user", async () => {
    const dir = natsDir()
    const { configPath } = await prepare(dir)
    const generated = readFileSync(configPath, "utf8")
    writeFileSync(configPath, generated.replace('"berth.cmd.*"', '">"'))
    chmodSync(configPath, 0o644)
    await prepare(dir)
    expect(readFileSync(configPath, "utf8")).toBe(generated)
    expect((statSync(configPath).mode & 0o777).toString(8)).toBe("600")
    expect(generated).toContain("max_payload: 8MB")
    for (const user of natsUsers) expect(generated).toContain(`{ user: "${user}", password: "`)
  })
})

describe("BERTH_NATS_USERS_DIR", () => {
  it("gives each role its user from <role>.password or <role>.creds, and names what is missing", async () => {
    const dir = natsDir()
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "api.password"), "pw-of-api\n")
    writeFileSync(join(dir, "orchestrator.creds"), "-----BEGIN NATS USER JWT-----\n")
    expect(await Effect.runPromise(usersDirClients(dir, ["api", "orchestrator"]))).toEqual({
      api: { auth: { _tag: "UserPassword", user: "api", password: "pw-of-api" }, inboxPrefix: "_INBOX_api" },
      orchestrator: { auth: { _tag: "Creds", path: join(dir, "orchestrator.creds") }, inboxPrefix: "_INBOX_orchestrator" }
    })
    const missing = await Effect.runPromise(Effect.flip(usersDirClients(dir, ["api", "gateway"])))
    expect(missing.message).toBe(`${dir}: BERTH_NATS_USERS_DIR has neither gateway.creds nor gateway.password`)
  })
})
