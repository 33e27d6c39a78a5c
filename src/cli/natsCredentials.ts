/**
 * Who CLI commands that talk to NATS directly (`npm run send`) connect as: the NATS_* settings when
 * given (src/nats/natsAuth.ts), else the `publisher` of BERTH_NATS_USERS_DIR, else, against the
 * nats-server `npm start` runs, its `publisher` user (password under <BERTH_DATA_DIR>/nats/), else
 * nobody (a server without users).
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { ConnectionOptions } from "@nats-io/transport-node"
import { Effect } from "effect"
import { connectionAuth, natsAuthConfig, type NatsClientAuth } from "../nats/natsAuth.js"
import { localClient, passwordFile, usersDirClients } from "../local/natsUsers.js"
import { runFilePath } from "./runFile.js"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

/** The publisher's password file of a local Berth: beside the run file, or in the checkout's data dir. */
const localPublisherPassword = (): string | undefined => {
  const dataDirs = [dirname(runFilePath()), resolve(projectRoot, process.env["BERTH_DATA_DIR"] ?? ".berth")]
  for (const dataDir of new Set(dataDirs)) {
    const file = passwordFile(join(dataDir, "nats"), "publisher")
    if (existsSync(file)) return readFileSync(file, "utf8").trim()
  }
  return undefined
}

export const cliNatsClient: Effect.Effect<NatsClientAuth, Error> = Effect.gen(function* () {
  const given = yield* Effect.mapError(natsAuthConfig, (error) => new Error(`configuration error: ${String(error)}`))
  if (given.auth._tag !== "None") return given
  const usersDir = process.env["BERTH_NATS_USERS_DIR"] ?? ""
  if (usersDir !== "") return (yield* usersDirClients(resolve(usersDir), ["publisher"])).publisher
  // NATS_URL given: a server of someone else's; the local password would be meaningless there.
  const external = (process.env["NATS_URL"] ?? "") !== ""
  const password = external ? undefined : localPublisherPassword()
  return password === undefined ? given : localClient("publisher", password)
})

export const cliNatsConnectOptions = (): Promise<Partial<ConnectionOptions>> =>
  Effect.runPromise(Effect.flatMap(cliNatsClient, connectionAuth))
