/**
 * `npm run send -- <command.json | '{"type":...}'> [--follow]`: publishes one command to
 * berth.cmd.<projectId> with a plain NATS client and prints what Berth decided (the events, or the
 * rejection). With --follow, keeps printing the project's events until the deployment it started
 * is live, ready or failed. NATS_URL, or the URL `npm start` wrote to .berth/run.json; as the NATS
 * user of NATS_CREDS / NATS_USER / NATS_TOKEN, or as the local server's `publisher` user. A Deploy's env
 * values are sealed before publishing when the secrets keys are here; events print them as sealed(<fp>).
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname } from "node:path"
import { Effect, Either, Option, Redacted } from "effect"
import { connect } from "@nats-io/transport-node"
import { jetstream } from "@nats-io/jetstream"
import { displayEnv, displayPayload } from "../domain/secrets.js"
import { subjects } from "../nats/subjects.js"
import { keysFilePath } from "../secrets/keysFile.js"
import { loadSecrets } from "../secrets/Secrets.js"
import { absoluteLocalPaths } from "../shared/localPaths.js"
import { cliNatsConnectOptions } from "./natsCredentials.js"
import { findUrl, runFilePath } from "./runFile.js"
import { natsServers } from "../nats/servers.js"

interface Envelope {
  readonly commandId: string | null
  readonly events: ReadonlyArray<{ readonly type: string; readonly deploymentId?: string } & Record<string, unknown>>
}

const fail = (message: string): never => {
  console.error(`berth send: ${message}`)
  process.exit(1)
}

const natsUrl = (): string =>
  findUrl("NATS_URL") ?? fail(`no NATS_URL and no ${runFilePath()}: start Berth with \`npm start\` first`)

const args = process.argv.slice(2)
const follow = args.includes("--follow")
const input = args.find((arg) => !arg.startsWith("--")) ?? fail("give a command: a JSON file or inline JSON")
const text = input.trimStart().startsWith("{") ? input : existsSync(input) ? readFileSync(input, "utf8") : fail(`no such file: ${input}`)
let command: Record<string, unknown> = {}
try {
  command = JSON.parse(text) as Record<string, unknown>
} catch (error) {
  fail(`not JSON: ${error instanceof Error ? error.message : String(error)}`)
}
// A Deploy's relative file paths (examples/hello/server.js) made absolute: instances run in their own directory.
const source = command["source"]
if (typeof source === "object" && source !== null && "command" in source && Array.isArray(source.command)) {
  const { command: argv, resolved } = absoluteLocalPaths(source.command.map(String))
  command = { ...command, source: { ...source, command: argv } }
  for (const [from, to] of resolved) console.log(`(${from} sent as ${to}: instances run in their own directory)`)
}
const projectId = typeof command["projectId"] === "string" ? command["projectId"] : fail("the command has no projectId")
const commandId = typeof command["commandId"] === "string" ? command["commandId"] : fail("the command has no commandId")
const deploymentId = typeof command["deploymentId"] === "string" ? command["deploymentId"] : undefined
// Env values sealed before they leave this process, when the keys are at hand (BERTH_SECRETS_KEY or the
// data dir's secrets.keys); otherwise sent as they are, and Berth seals them when it decides the command.
const env = command["env"]
if (typeof env === "object" && env !== null && !Array.isArray(env) && Object.keys(env).length > 0) {
  const key = process.env["BERTH_SECRETS_KEY"]
  const keysFile = keysFilePath(dirname(runFilePath()))
  if ((key !== undefined && key !== "") || existsSync(keysFile)) {
    const sealed = await Effect.runPromise(
      Effect.either(Effect.flatMap(loadSecrets({ key: key === undefined || key === "" ? Option.none() : Option.some(Redacted.make(key)), dataDir: dirname(keysFile) }), (secrets) =>
        secrets.sealEnv(projectId, Object.fromEntries(Object.entries(env).map(([name, value]) => [name, String(value)])))))
    )
    if (Either.isLeft(sealed)) fail(sealed.left.message)
    else {
      command = { ...command, env: sealed.right }
      console.log(`(env values sealed: ${Object.entries(displayEnv(sealed.right)).map(([name, shown]) => `${name}=${shown}`).join(" ")})`)
    }
  } else console.log("(env values sent in cleartext: no secrets keys here; Berth seals them when it decides the command)")
}

let auth: Awaited<ReturnType<typeof cliNatsConnectOptions>> = {}
try {
  auth = await cliNatsConnectOptions()
} catch (error) {
  fail(error instanceof Error ? error.message : String(error))
}
const nc = await connect({ ...auth, servers: natsServers(natsUrl()) })
const subscription = nc.subscribe(subjects.events(projectId))
const ack = await jetstream(nc).publish(subjects.command(projectId), JSON.stringify(command))
console.log(`published ${String(command["type"])} ${commandId} to ${subjects.command(projectId)} (stream seq ${ack.seq})`)

const timer = setTimeout(() => fail("no decision within 30 s: is Berth running?"), 30_000)
let decided = false
for await (const message of subscription) {
  const envelope = message.json<Envelope>()
  const mine = envelope.commandId === commandId
  if (!decided && !mine) continue
  decided = true
  for (const event of envelope.events) {
    const { type, ...rest } = event
    console.log(`  ${type.padEnd(24)} ${JSON.stringify(displayPayload(rest))}`)
    if (type === "CommandRejected" && mine) process.exitCode = 1
  }
  const finished = envelope.events.some(
    (event) =>
      (event.type === "DeploymentFailed" && event.deploymentId === deploymentId) ||
      (event.type === "DeploymentReady" && event.deploymentId === deploymentId)
  )
  if (!follow || deploymentId === undefined || finished || process.exitCode === 1) break
  timer.refresh()
}
clearTimeout(timer)
await nc.close()
