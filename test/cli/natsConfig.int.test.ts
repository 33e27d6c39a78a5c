/**
 * `berth nats config` as a platform team uses it: its output appended to a nats-server config, the
 * passwords defined in an included file. Berth's orchestrator then sets up its streams with its own
 * user, a publisher sends a command but cannot append an event, and a wrong password is refused.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Nats } from "../../src/nats/Nats.js"
import { inboxPrefixOf, natsUsers } from "../../src/nats/permissions.js"
import { startNatsServer } from "../../src/local/NatsServer.js"
import { passwordVariable } from "../../src/local/natsUsers.js"
import { projectNatsConf } from "../support/servers.js"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))
const passwords = Object.fromEntries(natsUsers.map((user) => [user, randomBytes(16).toString("hex")]))
const dir = mkdtempSync(join(tmpdir(), "berth-nats-config-"))
const scope = Effect.runSync(Scope.make())
let url = ""

const berthCli = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "src/cli/berth.ts", ...args], { cwd: projectRoot }, (error, stdout) =>
      resolve({ code: error === null ? 0 : 1, stdout })
    )
  })

const userAuth = (user: string, password: string) => ({ user, pass: password, inboxPrefix: `_INBOX_${user}` })

beforeAll(async () => {
  const printed = await berthCli(["nats", "config"])
  expect(printed.code).toBe(0)
  const configPath = join(dir, "nats-server.conf")
  const definitions = natsUsers.map((user) => `${passwordVariable(user)}: ${JSON.stringify(passwords[user])}`).join("\n")
  writeFileSync(join(dir, "berth-passwords.conf"), `${definitions}\n`, { mode: 0o600 })
  writeFileSync(configPath, `${readFileSync(projectNatsConf, "utf8")}\ninclude ./berth-passwords.conf\n${printed.stdout}`)
  const server = await Effect.runPromise(
    Scope.extend(
      startNatsServer({
        dataDir: join(dir, "nats"),
        configPath,
        client: { auth: { _tag: "UserPassword", user: "orchestrator", password: passwords["orchestrator"] ?? "" }, inboxPrefix: inboxPrefixOf("orchestrator") }
      }),
      scope
    )
  )
  url = server.url
})
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  rmSync(dir, { recursive: true, force: true })
})

describe("berth nats config on an external server", () => {
  it("lets the orchestrator set up its streams and a publisher send commands, and nothing more", async () => {
    const orchestrator = Effect.gen(function* () {
      const { jsm } = yield* Nats
      return yield* Effect.promise(() =>
        Promise.all(["BERTH_COMMANDS", "BERTH_DLQ", "BERTH_EVENTS"].map(async (name) => (await jsm.streams.info(name)).config.name))
      )
    }).pipe(
      Effect.provide(
        Nats.layer(url, {
          streams: "ensure",
          auth: { auth: { _tag: "UserPassword", user: "orchestrator", password: passwords["orchestrator"] ?? "" }, inboxPrefix: "_INBOX_orchestrator" }
        })
      )
    )
    expect(await Effect.runPromise(orchestrator)).toEqual(["BERTH_COMMANDS", "BERTH_DLQ", "BERTH_EVENTS"])

    const nc = await connect({ servers: url, ...userAuth("publisher", passwords["publisher"] ?? "") })
    try {
      const js = jetstream(nc, { timeout: 2_000 })
      expect((await js.publish("berth.cmd.proj_ext", "{}")).stream).toBe("BERTH_COMMANDS")
      await expect(js.publish("berth.evt.proj_ext", "{}")).rejects.toThrow('Permissions Violation for Publish to "berth.evt.proj_ext"')
    } finally {
      await nc.close()
    }
  })

  it("prints the partition mapping with --partitions, and only then", async () => {
    const partitioned = await berthCli(["nats", "config", "--partitions", "8"])
    expect(partitioned.code).toBe(0)
    expect(partitioned.stdout).toContain('mappings {\n  "berth.cmd.*": "berth.pcmd.{{partition(8,1)}}.{{wildcard(1)}}"\n}')
    expect((await berthCli(["nats", "config"])).stdout).not.toContain("mappings")
    expect((await berthCli(["nats", "config", "--partitions", "0"])).code).toBe(1)
  })

  it("refuses a wrong password", async () => {
    await expect(connect({ servers: url, reconnect: false, ...userAuth("publisher", "wrong") })).rejects.toThrow(/Authorization Violation/)
  })
})
