/**
 * Secrets sealed, checked as an attacker with read access to Berth's storage would: env values sent
 * through the API, as cleartext by a raw NATS publisher, and pre-sealed with `berth secrets seal`'s
 * format reach Krane in cleartext (the fake Krane records them), and then appear nowhere else: not in
 * any message of any stream (commands, events, dead letters, every KV bucket with its history, the
 * object store), not in any PostgreSQL table, not in any API answer. Invalid commands carrying env
 * leave no cleartext in BERTH_DLQ either. Real nats-server and PostgreSQL; only Krane is faked.
 */
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import { Effect } from "effect"
import postgres from "postgres"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { streams, subjects } from "../../src/nats/subjects.js"
import { secretsFromKeys } from "../../src/secrets/Secrets.js"
import { bearer } from "../support/auth.js"
import { type FakeKrane, makeFakeKrane } from "../support/FakeKrane.js"
import { createProjectCommand, deployCommand, fastSettings, type RunningOrchestrator, startOrchestrator } from "../support/orchestrator.js"
import { type TestApi, startTestApi } from "../support/apiServer.js"
import { testSecretsKeys } from "../support/secrets.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"

const project = "proj_sealed"
/** A unique marker per way in: the grep below must find none of them. */
const marker = (what: string) => `${what}-${randomBytes(12).toString("hex")}`
const markers = {
  api: marker("via-api"),
  raw: marker("via-raw-nats"),
  preSealed: marker("pre-sealed"),
  invalid: marker("invalid-command"),
  broken: marker("broken-json"),
  legacy: marker("legacy-log"),
  send: marker("npm-run-send")
}

let nats: TestNats
let krane: FakeKrane
let orchestrator: RunningOrchestrator
let api: TestApi
let databaseUrl: string
let base: string
let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager

/** Every log line the orchestrator, API and projector in this process write (Effect's logger writes to console). */
const logLines: Array<string> = []

beforeAll(async () => {
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    const original = console[method].bind(console)
    vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
      logLines.push(args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg) ?? String(arg))).join(" "))
      original(...args)
    })
  }
  nats = await startTestNats()
  krane = makeFakeKrane()
  // A snapshot after every decision and one hot deployment: snapshots and the archive are checked too.
  orchestrator = await startOrchestrator(nats.url, krane.layer, { ...fastSettings, snapshotEvery: 1, hotDeployments: 1 })
  databaseUrl = await freshDatabase("sealed")
  ;({ api, base } = await startTestApi(nats.url, databaseUrl))
  nc = await connect({ servers: nats.url })
  js = jetstream(nc)
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  vi.restoreAllMocks()
  await nc?.close()
  await orchestrator?.stop()
  await api?.dispose()
  await nats?.stop()
})

const get = async (path: string): Promise<{ status: number; text: string }> => {
  const response = await fetch(`${base}${path}`, { headers: bearer() })
  return { status: response.status, text: await response.text() }
}

const post = async (path: string, body: unknown) => {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { ...bearer(), "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return { status: response.status, text: await response.text() }
}

const publish = async (body: unknown) => (await js.publish(subjects.command(project), typeof body === "string" ? body : JSON.stringify(body))).seq

const eventsOfLog = async (projectId: string): Promise<Array<Record<string, unknown>>> => {
  const found: Array<Record<string, unknown>> = []
  let seq = 0
  for (;;) {
    const message = await jsm.direct.getMessage(streams.events, { next_by_subj: subjects.events(projectId), seq: seq + 1 })
    if (message === null) return found
    seq = message.seq
    found.push(...message.json<{ events: Array<Record<string, unknown>> }>().events)
  }
}

const waitFor = async <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs = 30_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const rejectionOf = (commandId: string) =>
  waitFor(`the rejection of ${commandId}`, async () =>
    (await eventsOfLog(project)).find((event) => event["type"] === "CommandRejected" && event["commandId"] === commandId))

/** Every message (data and headers) of every stream, as text: commands, events, DLQ, KV buckets with history, object stores. */
const everyStreamMessage = async (): Promise<Array<{ stream: string; seq: number; text: string }>> => {
  const found: Array<{ stream: string; seq: number; text: string }> = []
  for await (const info of jsm.streams.list()) {
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const message = await jsm.streams.getMessage(info.config.name, { seq }).catch(() => null)
      if (message === null) continue
      const headers = message.header === undefined ? "" : [...message.header.keys()].map((key) => `${key}: ${message.header?.get(key) ?? ""}`).join("\n")
      found.push({ stream: info.config.name, seq, text: `${message.subject}\n${headers}\n${message.string()}` })
    }
  }
  return found
}

/** Every row of every table of every non-system schema, as text. */
const everyTableRow = async (): Promise<Array<{ table: string; text: string }>> => {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  try {
    const tables = await sql<Array<{ schema: string; name: string }>>`
      select table_schema as schema, table_name as name from information_schema.tables
       where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`
    const rows: Array<{ table: string; text: string }> = []
    for (const { schema, name } of tables) {
      const found = await sql<Array<{ text: string }>>`select t::text as text from ${sql(schema)}.${sql(name)} t`
      rows.push(...found.map(({ text }) => ({ table: `${schema}.${name}`, text })))
    }
    return rows
  } finally {
    await sql.end()
  }
}

const holding = <T extends { readonly text: string }>(texts: ReadonlyArray<T>, values: ReadonlyArray<string>): Array<T> =>
  texts.filter(({ text }) => values.some((value) => text.includes(value)))

describe("env values are sealed everywhere Berth stores or shows them", () => {
  it("reach Krane in cleartext, and no stream, bucket, table or API answer holds them", async () => {
    expect((await post("/v1/projects", { ...createProjectCommand(project), type: undefined })).status).toBe(202)
    await waitFor("the project", async () => ((await get(`/v1/projects/${project}`)).status === 200 ? true : undefined))

    // 1. Through the API: sealed before it is published.
    const viaApi = await post(`/v1/projects/${project}/deployments`, {
      deploymentId: "dep_api",
      environmentId: "env_prod",
      source: { command: ["node", "server.js"] },
      env: { DB_PASSWORD: markers.api, MODE: "prod" }
    })
    expect(viaApi.status).toBe(202)
    // 2. A raw publisher sending cleartext: sealed on decision, the message erased once settled.
    await publish(deployCommand(project, "dep_raw", { env: { DB_PASSWORD: markers.raw } }))
    // 3. A raw publisher sending a value it sealed itself (what `berth secrets seal` prints).
    const preSealed = await Effect.runPromise(Effect.flatMap(secretsFromKeys(testSecretsKeys), (secrets) => secrets.seal(project, markers.preSealed)))
    await publish(deployCommand(project, "dep_pre", { env: { DB_PASSWORD: preSealed } }))
    // 4. Invalid commands carrying env: rejected, dead-lettered without the cleartext.
    await publish(deployCommand(project, "dep_invalid", { replicas: 0, env: { DB_PASSWORD: markers.invalid } }))
    await publish(`{"type":"Deploy","commandId":"cmd_broken","projectId":"${project}","env":{"DB_PASSWORD":"${markers.broken}"`)
    // 5. A value sealed under a key this Berth does not hold is refused, naming the variable only.
    const foreign = await Effect.runPromise(
      Effect.flatMap(secretsFromKeys(`zz:${randomBytes(32).toString("base64")}`), (secrets) => secrets.seal(project, "whatever"))
    )
    await publish(deployCommand(project, "dep_foreign", { env: { API_KEY: foreign } }))
    // 6. A value sealed for another project (lifted from its log by someone who can read the streams)
    // does not open here: no tenant can have another's secret handed to its app.
    const othersSecret = await Effect.runPromise(
      Effect.flatMap(secretsFromKeys(testSecretsKeys), (secrets) => secrets.seal("proj_other_tenant", "their-secret"))
    )
    await publish(deployCommand(project, "dep_stolen", { env: { DB_PASSWORD: othersSecret } }))

    for (const deploymentId of ["dep_api", "dep_raw", "dep_pre"]) {
      await waitFor(`${deploymentId} ready`, async () =>
        (await eventsOfLog(project)).some((event) => event["type"] === "DeploymentReady" && event["deploymentId"] === deploymentId) ? true : undefined)
    }
    // Krane is the one place that gets the cleartext.
    const envOf = (deploymentId: string) => krane.createCalls.find((spec) => spec.deploymentId.endsWith(deploymentId))?.env
    expect(envOf("dep_api")).toEqual({ DB_PASSWORD: markers.api, MODE: "prod" })
    expect(envOf("dep_raw")).toEqual({ DB_PASSWORD: markers.raw })
    expect(envOf("dep_pre")).toEqual({ DB_PASSWORD: markers.preSealed })

    expect(await rejectionOf("cmd_dep_invalid")).toMatchObject({ code: "invalid_input", message: "replicas: replicas must be between 1 and 64" })
    expect(await rejectionOf("cmd_dep_foreign")).toMatchObject({
      code: "invalid_input",
      message: "env.API_KEY: sealed with key id zz, which this Berth does not hold (BERTH_SECRETS_KEY or the secrets.keys file)"
    })
    expect(await rejectionOf("cmd_dep_stolen")).toMatchObject({
      code: "invalid_input",
      message: "env.DB_PASSWORD: does not open with key t1 (sealed for another project, damaged, or sealed by another key with the same id)"
    })
    expect(krane.createCalls.filter((spec) => /dep_(foreign|stolen)$/.test(spec.deploymentId))).toEqual([])

    // The read model has caught up with every deployment.
    await waitFor("the read model", async () => {
      const views = await Promise.all(["dep_api", "dep_raw", "dep_pre"].map((d) => get(`/v1/deployments/${d}`)))
      return views.every((view) => view.status === 200 && view.text.includes(`"status":"ready"`)) ? true : undefined
    })

    const secretsSent = [markers.api, markers.raw, markers.preSealed, markers.invalid, markers.broken]
    // Settled cleartext commands are erased from BERTH_COMMANDS (asynchronously, just after their ack).
    const messages = await waitFor("no cleartext in any stream", async () => {
      const all = await everyStreamMessage()
      return holding(all, secretsSent).length === 0 ? all : undefined
    }, 10_000).catch(async () => everyStreamMessage())
    expect(holding(messages, secretsSent).map(({ stream, seq }) => `${stream} #${seq}`)).toEqual([])
    // What was checked: every stream, KV bucket and object store Berth has.
    const streamNames = new Set(messages.map(({ stream }) => stream))
    for (const name of [streams.commands, streams.events, streams.deadLetters, "KV_berth_snapshots", "KV_berth_archive", "KV_berth_routes"]) {
      expect(streamNames).toContain(name)
    }

    // The dead letters say what happened to the payload, and keep the env's keys.
    const deadLetters = messages.filter(({ stream }) => stream === streams.deadLetters).map(({ text }) => text)
    expect(deadLetters.find((text) => text.includes("cmd_dep_invalid"))).toMatch(/Berth-Dlq-Payload: redacted[\s\S]*"DB_PASSWORD":"redacted"/)
    expect(deadLetters.find((text) => text.includes("berth.dlq.undecodable"))).toContain("Berth-Dlq-Payload: withheld")

    const rows = await everyTableRow()
    expect(rows.length).toBeGreaterThan(10)
    expect(holding(rows, secretsSent).map(({ table, text }) => `${table}: ${text.slice(0, 200)}`)).toEqual([])
    // Nor the sealed form: the read model keeps keys and fingerprints only.
    expect(holding(rows, ["sealed:v1:"]).map(({ table }) => table)).toEqual([])

    const answers = await Promise.all([
      get(`/v1/projects/${project}/events?limit=500`),
      get(`/v1/projects/${project}`),
      get(`/v1/projects/${project}/deployments`),
      ...["dep_api", "dep_raw", "dep_pre"].map((d) => get(`/v1/deployments/${d}`))
    ])
    expect(holding(answers, [...secretsSent, "sealed:v1:"]).map(({ text }) => text.slice(0, 200))).toEqual([])
    // Nor the logs: they were written (a dead letter is logged), with no value in them.
    expect(logLines.some((line) => line.includes("command dead-lettered"))).toBe(true)
    expect(logLines.filter((line) => secretsSent.some((value) => line.includes(value)))).toEqual([])
    // The audit trail shows the keys and a fingerprint.
    const requested = (JSON.parse(answers[0]?.text ?? "{}") as { events: Array<{ type: string; payload: { deploymentId?: string; env?: unknown } }> })
      .events.find((event) => event.type === "DeploymentRequested" && event.payload.deploymentId === "dep_api")
    expect(requested?.payload.env).toEqual({ DB_PASSWORD: expect.stringMatching(/^sealed\([0-9a-f]{12}\)$/), MODE: expect.stringMatching(/^sealed\([0-9a-f]{12}\)$/) })
  })

  it("a log written before sealing existed is shown redacted by the API and never copied to the read model", async () => {
    const legacy = "proj_legacy"
    const envelope = (previousVersion: number, commandId: string, events: ReadonlyArray<unknown>) =>
      JSON.stringify({ v: 1, projectId: legacy, commandId, previousVersion, at: Date.now(), events })
    const created = await js.publish(subjects.events(legacy), envelope(0, "cmd_legacy_create", [{
      type: "ProjectCreated",
      projectId: legacy,
      workspace: "legacy",
      slug: "old",
      apexDomain: "berth.test",
      defaultBranch: "main",
      environments: [{ id: "env_legacy", slug: "production", kind: "production" }]
    }]))
    await js.publish(subjects.events(legacy), envelope(created.seq, "cmd_legacy_deploy", [{
      type: "DeploymentRequested",
      deploymentId: "dep_legacy",
      environmentId: "env_legacy",
      source: { image: "registry.local/old:1" },
      replicas: 1,
      port: 8080,
      cpuMillicores: 512,
      memorySizeMib: 512,
      env: { DB_PASSWORD: markers.legacy }
    }]))
    const events = await waitFor("the legacy events", async () => {
      const answer = await get(`/v1/projects/${legacy}/events`)
      return answer.status === 200 && answer.text.includes("DeploymentRequested") ? answer.text : undefined
    })
    expect(events).not.toContain(markers.legacy)
    expect(events).toContain(`"env":{"DB_PASSWORD":"redacted"}`)
    expect(holding(await everyTableRow(), [markers.legacy]).map(({ table }) => table)).toEqual([])
  })

  it("`npm run send` seals a Deploy's env before publishing when the keys are at hand, and prints fingerprints only", async () => {
    const projectRoot = fileURLToPath(new URL("../..", import.meta.url))
    const command = deployCommand(project, "dep_send", { env: { DB_PASSWORD: markers.send } })
    const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/cli/send.ts", JSON.stringify(command), "--follow"], {
        cwd: projectRoot,
        env: { ...process.env, NATS_URL: nats.url, BERTH_SECRETS_KEY: testSecretsKeys, BERTH_DATA_DIR: mkdtempSync(join(tmpdir(), "berth-send-")) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()))
      child.once("close", (code) => resolve({ code, out }))
    })
    expect(run.out).toMatch(/^\(env values sealed: DB_PASSWORD=sealed\([0-9a-f]{12}\)\)$/m)
    expect(run.out).toMatch(/DeploymentRequested .*"env":\{"DB_PASSWORD":"sealed\([0-9a-f]{12}\)"\}/)
    expect(run.out).not.toContain(markers.send)
    expect(run.out).not.toContain("sealed:v1:")
    expect(run.code).toBe(0)
    expect(krane.createCalls.find((spec) => spec.deploymentId.endsWith("dep_send"))?.env).toEqual({ DB_PASSWORD: markers.send })
    expect(holding(await everyStreamMessage(), [markers.send]).map(({ stream, seq }) => `${stream} #${seq}`)).toEqual([])
  })
})
