/**
 * The `berth` CLI as a user runs it: a child process (`tsx src/cli/berth.ts …`) against a real status
 * API on a real nats-server + PostgreSQL. Commands land in BERTH_COMMANDS (nobody consumes them
 * here); Berth's decisions are hand-made event envelopes published to BERTH_EVENTS and projected, so
 * `status`, `events` and every `--wait` see exactly what the orchestrator would have recorded.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ProjectEvent } from "../../src/domain/events.js"
import { ensureStreams } from "../../src/nats/Nats.js"
import { streams, subjects } from "../../src/nats/subjects.js"
import { Projector } from "../../src/projections/Projector.js"
import { eventCount, history, projectId, publishSteps, putSpec, t0 } from "../projections/scenario.js"
import { freeTcpPort } from "../support/berthProcess.js"
import { testAdminToken } from "../support/auth.js"
import { freshDatabase, startTestNats, type TestNats } from "../support/servers.js"
import { type TestApi, startTestApi } from "../support/apiServer.js"
import { openWithTestKey, sealedWithTestKey } from "../support/secrets.js"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))
const otherProject = "proj_other"

let natsServer: TestNats
let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager
let api: TestApi
let base: string
/** The last stream sequence published per project (to chain previousVersion). */
const lastSeq = new Map<string, number>()

/** Publishes one decision (an envelope) and waits until it is projected. */
const decide = async (project: string, commandId: string | null, events: ReadonlyArray<ProjectEvent>): Promise<number> => {
  const [seq = 0] = await publishSteps(js, [{ at: Date.now(), commandId, events }], lastSeq.get(project) ?? 0, project)
  lastSeq.set(project, seq)
  await api.runPromise(Effect.flatMap(Projector, (p) => p.waitFor(seq)))
  return seq
}

beforeAll(async () => {
  natsServer = await startTestNats()
  nc = await connect({ servers: natsServer.url })
  js = jetstream(nc)
  jsm = await jetstreamManager(nc)
  await Effect.runPromise(ensureStreams(jsm))
  await putSpec(js)
  const seqs = await publishSteps(js, history)
  lastSeq.set(projectId, seqs[seqs.length - 1] ?? 0)
  const dbUrl = await freshDatabase("cli")
  ;({ api, base } = await startTestApi(natsServer.url, dbUrl))
  await api.runPromise(Effect.flatMap(Projector, (p) => p.waitFor(seqs[seqs.length - 1] ?? 0)))
  // A second project with a production environment and nothing deployed: the --wait tests' stage.
  await decide(otherProject, "cmd_other", [{
    type: "ProjectCreated",
    projectId: otherProject,
    workspace: "acme",
    slug: "other",
    apexDomain: "berth.localhost",
    defaultBranch: "main",
    environments: [{ id: "env_main", slug: "production", kind: "production" }, { id: "env_pr", slug: "preview", kind: "preview" }]
  }])
})

afterAll(async () => {
  await api?.dispose()
  await nc?.close()
  await natsServer?.stop()
})

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

interface RunningCli {
  readonly stdout: () => string
  readonly done: Promise<Run>
  readonly stop: () => Promise<Run>
}

/** Starts `berth <args>` against the test API (BERTH_API_URL) unless `env` says otherwise. */
const start = (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>> = {}): RunningCli => {
  const child = spawn(join(projectRoot, "node_modules/.bin/tsx"), ["src/cli/berth.ts", ...args], {
    cwd: projectRoot,
    env: { ...process.env, BERTH_API_URL: base, BERTH_TOKEN: testAdminToken, TZ: "UTC", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const done = new Promise<Run>((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })))
  return {
    stdout: () => stdout,
    done,
    stop: () => {
      if (child.exitCode === null) child.kill("SIGTERM")
      return done
    }
  }
}

const berth = (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>> = {}): Promise<Run> => start(args, env).done

/** The last command published for a project, as stored in BERTH_COMMANDS. */
const lastCommand = async (project: string): Promise<unknown> => {
  const message = await jsm.streams.getMessage(streams.commands, { last_by_subj: subjects.command(project) }).catch(() => null)
  return message?.json()
}

const commandCount = async (): Promise<number> => (await jsm.streams.info(streams.commands)).state.messages

/** Waits until the CLI published a command with this id (it is then waiting for the outcome). */
const published = async (project: string, commandId: string): Promise<unknown> => {
  const deadline = Date.now() + 15_000
  for (;;) {
    const command = await lastCommand(project)
    if (typeof command === "object" && command !== null && "commandId" in command && command.commandId === commandId) return command
    if (Date.now() > deadline) throw new Error(`${commandId} was not published; last: ${JSON.stringify(command)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** One line on stderr, nothing on stdout, exit 1. */
const expectOneLineError = (run: Run, line: string) => {
  expect(run.stderr).toBe(`${line}\n`)
  expect(run.stdout).toBe("")
  expect(run.code).toBe(1)
}

describe("berth project create", () => {
  it("publishes a CreateProject with default environments and prints the ids", async () => {
    const run = await berth(["project", "create", "proj_cli", "--workspace", "acme", "--apex", "berth.localhost"])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const command = await lastCommand("proj_cli")
    expect(command).toEqual({
      type: "CreateProject",
      commandId: expect.stringMatching(/^cmd_[0-9a-f]{16}$/),
      projectId: "proj_cli",
      workspace: "acme",
      slug: "cli",
      apexDomain: "berth.localhost",
      environments: [
        { id: "env_cli_prod", slug: "production", kind: "production" },
        { id: "env_cli_preview", slug: "preview", kind: "preview" }
      ]
    })
    const { commandId } = command as { commandId: string }
    expect(run.stdout).toContain(`CreateProject accepted: project proj_cli, command ${commandId}\n`)
  })

  it("takes every field from flags", async () => {
    const run = await berth([
      "project", "create", "proj_cli2", "--workspace", "acme", "--slug", "shop-two", "--apex", "example.com",
      "--branch", "trunk", "--env", "production:env_p", "--env", "qa:env_qa", "--env", "stage:env_s:production",
      "--openapi-path", "/spec.json", "--command-id", "cmd_cli_create"
    ])
    // Two production environments: the API refuses before publishing.
    expectOneLineError(run, "berth: a project has at most one production environment (HTTP 400)")
    const ok = await berth([
      "project", "create", "proj_cli2", "--workspace", "acme", "--slug", "shop-two", "--apex", "example.com",
      "--branch", "trunk", "--env", "production:env_p", "--env", "qa:env_qa", "--openapi-path=/spec.json", "--command-id", "cmd_cli_create"
    ])
    expect(ok.code).toBe(0)
    expect(await lastCommand("proj_cli2")).toEqual({
      type: "CreateProject",
      commandId: "cmd_cli_create",
      projectId: "proj_cli2",
      workspace: "acme",
      slug: "shop-two",
      apexDomain: "example.com",
      defaultBranch: "trunk",
      openApiPath: "/spec.json",
      environments: [{ id: "env_p", slug: "production", kind: "production" }, { id: "env_qa", slug: "qa", kind: "preview" }]
    })
  })

  it("reports a project that exists, and usage mistakes, as one line without publishing", async () => {
    const before = await commandCount()
    expectOneLineError(
      await berth(["project", "create", projectId, "--workspace", "acme", "--apex", "berth.localhost"]),
      `berth: project already exists: ${projectId} (HTTP 409)`
    )
    expectOneLineError(
      await berth(["project", "create", "proj_x", "--apex", "berth.localhost"]),
      "berth: --workspace is required (see: berth project create --help)"
    )
    expectOneLineError(
      await berth(["project", "create", "proj_x", "--workspace", "acme", "--apex", "b.localhost", "--env", "nope"]),
      "berth: --env takes <slug>:<environmentId>[:production|preview], got \"nope\" (see: berth project create --help)"
    )
    expect(await commandCount()).toBe(before)
  })

  it("--wait reports the decision", async () => {
    const running = start(["project", "create", "proj_cli3", "--workspace", "acme", "--apex", "berth.localhost", "--command-id", "cmd_cli3", "--wait"])
    await published("proj_cli3", "cmd_cli3")
    await decide("proj_cli3", "cmd_cli3", [{
      type: "CommandRejected", commandId: "cmd_cli3", commandType: "CreateProject", code: "invalid_input", message: "something is off"
    }])
    const run = await running.done
    expect(run.stdout).toContain("✗ rejected (invalid_input): something is off\n")
    expect(run.code).toBe(1)
  })
})

describe("berth deploy", () => {
  it("publishes a Deploy to the production environment by default and prints the ids", async () => {
    const run = await berth([
      "deploy", projectId, "--id", "dep_cli_1", "--sha", "abc1234", "--branch", "main", "--message", "ship it",
      "--replicas", "2", "--port", "3000", "--set", "A=1", "--set", "B=x=y", "--command-id", "cmd_cli_d1",
      "--", "node", "server.js", "--flag"
    ])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.stdout).toBe(
      "Deploy accepted: deployment dep_cli_1 to env_prod, command cmd_cli_d1\n  follow it with: berth status dep_cli_1\n"
    )
    const published = await lastCommand(projectId) as { env: { A: string; B: string } }
    expect(await openWithTestKey(projectId, published.env.B)).toBe("x=y")
    expect(published).toEqual({
      type: "Deploy",
      commandId: "cmd_cli_d1",
      projectId,
      deploymentId: "dep_cli_1",
      environmentId: "env_prod",
      source: { command: ["node", "server.js", "--flag"] },
      git: { sha: "abc1234", branch: "main", message: "ship it" },
      replicas: 2,
      port: 3000,
      env: { A: expect.stringMatching(sealedWithTestKey), B: expect.stringMatching(sealedWithTestKey) }
    })
  })

  it("splits --command like a shell, takes --image, generates ids", async () => {
    const run = await berth(["deploy", projectId, "--env", "env_prev", "--command", "node 'my server.js' --name=\"a b\""])
    expect(run.code).toBe(0)
    const command = await lastCommand(projectId) as { deploymentId: string; commandId: string; source: unknown; environmentId: string }
    expect(command).toMatchObject({ environmentId: "env_prev", source: { command: ["node", "my server.js", "--name=a b"] } })
    expect(command.deploymentId).toMatch(/^dep_[0-9a-f]{16}$/)
    expect(run.stdout).toContain(`deployment ${command.deploymentId} to env_prev, command ${command.commandId}`)

    expect((await berth(["deploy", projectId, "--image", "ghcr.io/acme/shop:1"])).code).toBe(0)
    expect(await lastCommand(projectId)).toMatchObject({ environmentId: "env_prod", source: { image: "ghcr.io/acme/shop:1" } })
  })

  it("answers API problems and usage mistakes with one line", async () => {
    expectOneLineError(await berth(["deploy", "proj_x", "--image", "x"]), "berth: project not found: proj_x (HTTP 404)")
    expectOneLineError(
      await berth(["deploy", projectId, "--env", "env_x", "--image", "x"]),
      "berth: environment 'env_x' not found in workspace 'acme' (HTTP 404)"
    )
    expectOneLineError(await berth(["deploy", projectId, "--id", "dep_live", "--image", "x"]), "berth: deployment already exists: dep_live (HTTP 409)")
    expectOneLineError(await berth(["deploy", projectId, "--image", "x", "--sha", "xyz"]), "berth: git.sha: must be 7-40 hex digits (HTTP 400)")
    expectOneLineError(
      await berth(["deploy", projectId, "--image", "x", "--command", "y"]),
      "berth: give one source: --image, --command or -- <command> <args…> (see: berth deploy --help)"
    )
    expectOneLineError(
      await berth(["deploy", projectId, "--image", "x", "--replicas", "two"]),
      "berth: --replicas must be a whole number, got \"two\" (see: berth deploy --help)"
    )
    expectOneLineError(await berth(["deploy", projectId, "--image", "x", "--wat"]), "berth: unknown option --wat (see: berth deploy --help)")
  })
})

describe("berth status", () => {
  it("shows a project: live deployment, environments, deployments with the live marker", async () => {
    const run = await berth(["status", projectId])
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^Project {6}proj_shop \(acme\/shop\)$/m)
    expect(run.stdout).toMatch(/^Live {9}dep_live$/m)
    expect(run.stdout).toMatch(/^Rolled back {2}no$/m)
    expect(run.stdout).toMatch(/^ENVIRONMENT {2}SLUG {8}KIND$/m)
    expect(run.stdout).toMatch(/^env_prod {5}production {2}production$/m)
    expect(run.stdout).toMatch(/^DEPLOYMENT\s+LIVE\s+STATUS\s+ENVIRONMENT\s+GIT\s+CREATED\s+AGE$/m)
    expect(run.stdout).toMatch(/^dep_live\s+●\s+ready\s+env_prod\s+abc1234 main\s+2026-01-01 12:00:01\s+\d+d ago$/m)
    expect(run.stdout).toMatch(/^dep_fail\s+failed\s+env_prod\s/m)
    expect(run.stdout).toMatch(/^dep_prev\s+ready\s+env_prev\s/m)
    expect(run.stdout).toMatch(/^2026-01-01 12:00:06\s+-\s+dep_live\s+deploy$/m)
    // Columns are aligned: every deployment row starts its STATUS where the header does.
    const lines = run.stdout.split("\n")
    const header = lines.find((line) => line.startsWith("DEPLOYMENT")) ?? ""
    const statusColumn = header.indexOf("STATUS")
    for (const id of ["dep_live", "dep_fail", "dep_prev"]) {
      const row = lines.find((line) => line.startsWith(`${id} `)) ?? ""
      expect(row.slice(statusColumn).split(" ")[0]).toMatch(/^(ready|failed)$/)
    }
  })

  it("shows a deployment: steps with durations and errors, instances, domains", async () => {
    const live = await berth(["status", "dep_live"])
    expect(live.code).toBe(0)
    expect(live.stdout).toMatch(/^Status\s+ready, live$/m)
    expect(live.stdout).toMatch(/^Source\s+image registry\.local\/shop:dep_live$/m)
    expect(live.stdout).toMatch(/^STEP\s+STARTED\s+DURATION\s+RESULT$/m)
    expect(live.stdout).toMatch(/^krane-create\s+2026-01-01 12:00:01\s+1\.00s\s+✓$/m)
    expect(live.stdout).toMatch(/^await-instances\s+2026-01-01 12:00:02\s+2\.00s\s+✓$/m)
    expect(live.stdout).toMatch(/^go-live\s+2026-01-01 12:00:06\s+0\.00s\s+✓$/m)
    expect(live.stdout).toMatch(/^dep_live-i0\s+10\.0\.0\.1:8080\s+RUNNING$/m)
    expect(live.stdout).toMatch(/^shop-acme\.berth\.localhost\s+live\s+env_prod$/m)
    expect(live.stdout).toMatch(/^OpenAPI\s+\/openapi\.yaml, \d+ B \(sha256 deadbeef\)$/m)

    const failed = await berth(["status", "dep_fail"])
    expect(failed.stdout).toMatch(/^Status\s+failed$/m)
    expect(failed.stdout).toMatch(/^Failure\s+await-instances: deployment never became ready: 0 of 1 instances running after 60s$/m)
    expect(failed.stdout).toMatch(/^await-instances\s+\S+ \S+\s+\S+\s+✗ deployment never became ready/m)
    expect(failed.stdout).toMatch(/^compensate\s+\S+ \S+\s+\d.*\s… running$/m)
    expect(failed.stdout).toContain("No instances.")
  })

  it("prints JSON with --json", async () => {
    const run = await berth(["status", "dep_live", "--json"])
    expect(JSON.parse(run.stdout)).toMatchObject({ deploymentId: "dep_live", status: "ready", isLive: true })
    const project = await berth(["status", projectId, "--json", "--limit", "1"])
    expect(JSON.parse(project.stdout)).toMatchObject({ project: { projectId }, deployments: [{ deploymentId: expect.any(String) }] })
  })

  it("answers an unknown id with one clear line", async () => {
    expectOneLineError(await berth(["status", "proj_x"]), "berth: project or deployment not found: proj_x (HTTP 404)")
    expectOneLineError(await berth(["status", "dep_x"]), "berth: project or deployment not found: dep_x (HTTP 404)")
  })
})

describe("berth events", () => {
  it("prints the audit trail as NDJSON with --json", async () => {
    const run = await berth(["events", projectId, "--json"])
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split("\n")
    expect(lines).toHaveLength(eventCount)
    const events = lines.map((line) => JSON.parse(line) as { type: string; streamSeq: number; commandId: string | null; payload: unknown })
    expect(events.map((e) => e.type)).toEqual(history.flatMap((step) => step.events.map((e) => e.type)))
    expect(events[0]).toMatchObject({ type: "ProjectCreated", commandId: "cmd_create", at: new Date(t0).toISOString(), payload: { slug: "shop" } })
  })

  it("prints human lines: #seq time type key fields [command]", async () => {
    const run = await berth(["events", projectId])
    const lines = run.stdout.trimEnd().split("\n")
    expect(lines).toHaveLength(eventCount)
    expect(lines[0]).toMatch(
      /^#1 {6}2026-01-01 12:00:00 {2}ProjectCreated {10}proj_shop acme\/shop apex berth\.localhost branch main environments env_prod \(production\), env_prev \(preview\) {2}\[cmd_create\]$/
    )
    expect(lines).toContainEqual(expect.stringMatching(/ LiveSwitched +\(none\) -> dep_live \(deploy\)$/))
    expect(lines).toContainEqual(expect.stringMatching(/ InstancesObserved +dep_live instances: 2 RUNNING$/))
    expect(lines).toContainEqual(expect.stringMatching(/ DeploymentFailed +dep_fail at await-instances: deployment never became ready/))

    const last = await berth(["events", projectId, "--limit", "2"])
    const tail = last.stdout.trimEnd().split("\n")
    expect(tail).toHaveLength(2)
    expect(tail[1]).toMatch(/ CommandRejected +Deploy NOT_FOUND: "environment not found" {2}\[cmd_bad\]$/)
  })

  it("answers an unknown project with one clear line", async () => {
    expectOneLineError(await berth(["events", "proj_x"]), "berth: project not found: proj_x (HTTP 404)")
  })

  it("--follow prints new events as they are recorded", async () => {
    // --limit 1 prints the last event so far at once: the sign the CLI (a process that may take seconds
    // to start on a loaded machine) is following before the next event is decided.
    const running = start(["events", otherProject, "--follow", "--limit", "1"])
    try {
      const started = Date.now() + 30_000
      while (!running.stdout().endsWith("\n") && Date.now() < started) await pause(100)
      const before = running.stdout()
      expect(before.split("\n")).toHaveLength(2)
      await pause(600)
      expect(running.stdout()).toBe(before)
      await decide(otherProject, "cmd_follow", [{
        type: "CommandRejected", commandId: "cmd_follow", commandType: "Promote", code: "precondition_failed", message: "followed"
      }])
      const deadline = Date.now() + 10_000
      while (!running.stdout().includes("followed") && Date.now() < deadline) await pause(100)
      expect(running.stdout().slice(before.length)).toMatch(/^#\d+ +\S+ \S+ {2}CommandRejected +Promote precondition_failed: "followed" {2}\[cmd_follow\]\n$/)
    } finally {
      await running.stop()
    }
  })
})

describe("berth token", () => {
  it("creates a token printed once, lists it without its secret, revokes it, and says why a request is refused", async () => {
    const created = await berth(["token", "create", "--workspace", "acme", "--role", "read", "--expires", "30d", "--description", "ci"])
    expect(created.code).toBe(0)
    const token = created.stdout.trim()
    expect(token).toMatch(/^berth_tok_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    const tokenId = token.split("_").slice(1, 3).join("_")
    expect(created.stderr).toMatch(new RegExp(`^token ${tokenId}: role read, workspace acme, expires \\d{4}-.+\\. Shown once: Berth keeps only its hash\\.\n$`))

    // The new token works for reading and nothing more.
    expect((await berth(["status", projectId], { BERTH_TOKEN: token })).code).toBe(0)
    expectOneLineError(
      await berth(["promote", projectId, "dep_live"], { BERTH_TOKEN: token }),
      `berth: token ${tokenId} has role read; this needs deploy (HTTP 403)`
    )

    const listed = await berth(["token", "list"])
    expect(listed.code).toBe(0)
    expect(listed.stdout).toMatch(/^ID +WORKSPACE +ROLE +CREATED +EXPIRES +BY +DESCRIPTION$/m)
    expect(listed.stdout).toMatch(new RegExp(`^${tokenId} +acme +read +\\S+ +\\S+ +admin +ci$`, "m"))
    expect(listed.stdout).not.toContain(token)

    const revoked = await berth(["token", "revoke", tokenId])
    expect(revoked).toEqual({ code: 0, stdout: `token ${tokenId} revoked\n`, stderr: "" })
    expectOneLineError(
      await berth(["status", projectId], { BERTH_TOKEN: token }),
      "berth: the API token is invalid, expired or revoked (HTTP 401): the API refused the token from BERTH_TOKEN"
    )
  })

  it("refuses usage mistakes before calling the API", async () => {
    expectOneLineError(await berth(["token", "create", "--role", "read"]), "berth: give exactly one of --workspace <slug> and --all-workspaces (see: berth token create --help)")
    expectOneLineError(await berth(["token", "create", "--workspace", "acme", "--role", "root"]), "berth: --role must be one of read, deploy, admin (see: berth token create --help)")
  })

  it("says where to get a token when it has none", async () => {
    const empty = mkdtempSync(join(tmpdir(), "berth-cli-"))
    try {
      expectOneLineError(
        await berth(["status", projectId], { BERTH_TOKEN: undefined, BERTH_DATA_DIR: empty }),
        "berth: an API token is required: send Authorization: Bearer <token> (HTTP 401): no API token: set BERTH_TOKEN (berth token create makes one), or run where `npm start` keeps .berth/admin-token"
      )
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })
})

describe("finding the API", () => {
  it("says the API is unreachable in one line", async () => {
    const port = await freeTcpPort()
    expectOneLineError(
      await berth(["status", projectId], { BERTH_API_URL: `http://127.0.0.1:${port}` }),
      `berth: cannot reach the Berth API at http://127.0.0.1:${port}: is it running? (npm start)`
    )
  })

  it("takes --api over BERTH_API_URL over run.json over the default", async () => {
    const dead = `http://127.0.0.1:${await freeTcpPort()}`
    expect((await berth(["--api", base, "status", projectId], { BERTH_API_URL: dead })).code).toBe(0)
    expect((await berth(["status", projectId, `--api=${base}`], { BERTH_API_URL: dead })).code).toBe(0)
    const dataDir = mkdtempSync(join(tmpdir(), "berth-cli-"))
    try {
      writeFileSync(join(dataDir, "run.json"), JSON.stringify({ api: base, natsUrl: natsServer.url }))
      expect((await berth(["status", projectId], { BERTH_API_URL: undefined, BERTH_DATA_DIR: dataDir })).code).toBe(0)
      writeFileSync(join(dataDir, "run.json"), JSON.stringify({ api: dead }))
      expectOneLineError(
        await berth(["status", projectId], { BERTH_API_URL: undefined, BERTH_DATA_DIR: dataDir }),
        `berth: cannot reach the Berth API at ${dead}: is it running? (npm start)`
      )
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

describe("help", () => {
  it("lists the commands and explains each", async () => {
    const overview = await berth(["help"])
    expect(overview.code).toBe(0)
    for (const command of ["up", "project create", "deploy", "status", "events", "rollback", "promote", "cancel"]) {
      expect(overview.stdout).toMatch(new RegExp(`^  ${command} `, "m"))
    }
    const deployHelp = await berth(["deploy", "--help"])
    expect(deployHelp.code).toBe(0)
    expect(deployHelp.stdout).toContain("Usage: berth deploy <projectId>")
    expect(deployHelp.stdout).toMatch(/--wait +follow the deployment/)
    expect((await berth(["help", "project", "create"])).stdout).toContain("Usage: berth project create <projectId>")
    expectOneLineError(await berth(["frobnicate"]), "berth: unknown command \"frobnicate\" (see: berth help)")
  })
})

describe("--wait on Berth's decisions", () => {
  it("deploy --wait prints each step, instance changes, the domains and that it is live", async () => {
    const running = start(["deploy", otherProject, "--id", "dep_w1", "--command-id", "cmd_w1", "--replicas", "2", "--wait", "--", "node", "app.js"])
    await published(otherProject, "cmd_w1")
    await pause(600) // the CLI sees 404s until the deployment is projected
    await decide(otherProject, "cmd_w1", [
      {
        type: "DeploymentRequested", deploymentId: "dep_w1", environmentId: "env_main", source: { command: ["node", "app.js"] },
        replicas: 2, port: 8080, cpuMillicores: 512, memorySizeMib: 512, env: {}
      },
      { type: "DeploymentBuilding", deploymentId: "dep_w1" }
    ])
    await pause(400)
    await decide(otherProject, null, [{ type: "KraneDeploymentCreated", deploymentId: "dep_w1", namespace: "acme", readyDeadlineAt: Date.now() + 60_000 }])
    await pause(400)
    const instance = (i: number, status: "PENDING" | "RUNNING") => ({ id: `dep_w1-${i}`, address: `127.0.0.1:900${i}`, status })
    await decide(otherProject, null, [{ type: "InstancesObserved", deploymentId: "dep_w1", instances: [instance(0, "PENDING"), instance(1, "PENDING")] }])
    await pause(400)
    await decide(otherProject, null, [{ type: "InstancesObserved", deploymentId: "dep_w1", instances: [instance(0, "RUNNING"), instance(1, "RUNNING")] }])
    await decide(otherProject, null, [{ type: "OpenApiSpecNotFound", deploymentId: "dep_w1", path: "/openapi.yaml", reason: "404" }])
    await decide(otherProject, null, [
      {
        type: "DomainsAssigned", deploymentId: "dep_w1", routeRevision: 1, withheld: [],
        domains: [{ hostname: "other-acme.berth.localhost", sticky: "live" }, { hostname: "other-dep-w1-acme.berth.localhost", sticky: "deployment" }]
      },
      { type: "DeploymentReady", deploymentId: "dep_w1" },
      { type: "LiveSwitched", from: null, to: "dep_w1", reason: "deploy" }
    ])
    const run = await running.done
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split("\n")
    const at = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line))
    expect(lines[0]).toBe("Deploy accepted: deployment dep_w1 to env_main, command cmd_w1")
    expect(at(/^ {2}✓ build +\d+\.\d\ds$/)).toBeGreaterThan(0)
    expect(at(/^ {2}→ await-instances$/)).toBeGreaterThan(at(/^ {2}✓ krane-create +\d+\.\d\ds$/))
    expect(at(/^ {6}instance dep_w1-0 {2}127\.0\.0\.1:9000 {2}PENDING$/)).toBeGreaterThan(at(/^ {2}→ await-instances$/))
    expect(at(/^ {6}instance dep_w1-1 {2}127\.0\.0\.1:9001 {2}RUNNING$/)).toBeGreaterThan(at(/instance dep_w1-1 .*PENDING$/))
    expect(at(/^ {2}✓ await-instances +\d+\.\d\ds$/)).toBeGreaterThan(at(/instance dep_w1-1 .*RUNNING$/))
    expect(at(/^ {2}✓ scrape-openapi /)).toBeGreaterThan(at(/✓ await-instances/))
    expect(at(/^ {2}✓ go-live /)).toBeGreaterThan(at(/✓ assign-domains/))
    expect(at(/^✓ dep_w1 is ready and live in \d+\.\d+s$/)).toBeGreaterThan(at(/✓ go-live/))
    expect(lines.slice(-2)).toEqual([
      "    other-acme.berth.localhost         live",
      "    other-dep-w1-acme.berth.localhost  deployment"
    ])
  })

  it("deploy --wait exits 1 with the step and reason of a failure, and 1 on a rejection", async () => {
    const failing = start(["deploy", otherProject, "--env", "env_pr", "--id", "dep_w2", "--command-id", "cmd_w2", "--image", "x", "--wait"])
    await published(otherProject, "cmd_w2")
    await decide(otherProject, "cmd_w2", [
      {
        type: "DeploymentRequested", deploymentId: "dep_w2", environmentId: "env_pr", source: { image: "x" },
        replicas: 1, port: 8080, cpuMillicores: 512, memorySizeMib: 512, env: {}
      },
      { type: "DeploymentBuilding", deploymentId: "dep_w2" }
    ])
    await pause(400)
    await decide(otherProject, null, [{ type: "DeploymentFailed", deploymentId: "dep_w2", step: "krane-create", reason: "unsupported by krane-local" }])
    const failed = await failing.done
    expect(failed.code).toBe(1)
    expect(failed.stdout).toMatch(/^ {2}✗ krane-create +\d+\.\d\ds {2}unsupported by krane-local$/m)
    expect(failed.stdout).toMatch(/^✗ dep_w2 failed at krane-create in \d+\.\d+s: unsupported by krane-local$/m)

    const rejected = start(["deploy", otherProject, "--id", "dep_w3", "--command-id", "cmd_w3", "--image", "x", "--wait"])
    await published(otherProject, "cmd_w3")
    await decide(otherProject, "cmd_w3", [{
      type: "CommandRejected", commandId: "cmd_w3", commandType: "Deploy", code: "deployment_exists", message: "deployment already exists: dep_w3"
    }])
    const run = await rejected.done
    expect(run.code).toBe(1)
    expect(run.stdout).toContain("✗ rejected (deployment_exists): deployment already exists: dep_w3\n")
  })

  it("deploy --wait exits 2 when the timeout runs out", async () => {
    const run = await berth(["deploy", otherProject, "--id", "dep_w4", "--image", "x", "--wait", "--timeout", "1s"])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(
      "berth: timed out after 1s waiting for dep_w4 (not yet seen by the status API); it carries on: berth status dep_w4\n"
    )
  })

  it("rollback, promote and cancel print the command id; --wait reports the outcome or the rejection", async () => {
    const rollback = start(["rollback", otherProject, "--to", "dep_w1", "--from", "dep_w1", "--command-id", "cmd_rb"])
    expectOneLineError(await rollback.done, "berth: source and target deployments must be different (HTTP 400)")

    const promote = start(["promote", otherProject, "dep_w1", "--command-id", "cmd_pr", "--wait"])
    expect(await published(otherProject, "cmd_pr")).toEqual({ type: "Promote", commandId: "cmd_pr", projectId: otherProject, deploymentId: "dep_w1" })
    await decide(otherProject, "cmd_pr", [{
      type: "CommandRejected", commandId: "cmd_pr", commandType: "Promote", code: "precondition_failed", message: "target deployment is already the live deployment"
    }])
    const promoted = await promote.done
    expect(promoted.code).toBe(1)
    expect(promoted.stdout).toBe(
      `Promote accepted: dep_w1 in ${otherProject}, command cmd_pr\n✗ rejected (precondition_failed): target deployment is already the live deployment\n`
    )

    const rolling = start(["rollback", projectId, "--to", "dep_prev", "--command-id", "cmd_rb2", "--wait"])
    expect(await published(projectId, "cmd_rb2")).toEqual({
      type: "Rollback", commandId: "cmd_rb2", projectId, sourceDeploymentId: "dep_live", targetDeploymentId: "dep_prev"
    })
    await decide(projectId, "cmd_rb2", [
      { type: "DomainsSwitched", toDeploymentId: "dep_prev", domains: [{ hostname: "shop-acme.berth.localhost", sticky: "live" }], reason: "rollback", routeRevision: 9 },
      { type: "LiveSwitched", from: "dep_live", to: "dep_prev", reason: "rollback" }
    ])
    const rolled = await rolling.done
    expect(rolled.code).toBe(0)
    expect(rolled.stdout.split("\n").slice(0, 3)).toEqual([
      `Rollback accepted: ${projectId} from dep_live to dep_prev, command cmd_rb2`,
      "✓ DomainsSwitched        -> dep_prev (rollback): shop-acme.berth.localhost (live)",
      "✓ LiveSwitched           dep_live -> dep_prev (rollback)"
    ])
    expect((await berth(["status", projectId])).stdout).toMatch(/^Rolled back {2}yes/m)

    const cancelling = start(["cancel", "dep_cli_1", "--command-id", "cmd_cx"])
    expectOneLineError(await cancelling.done, "berth: deployment not found: dep_cli_1 (HTTP 404)")
    // A deployment in progress: cancelled, then compensated.
    await decide(otherProject, "cmd_w5", [{
      type: "DeploymentRequested", deploymentId: "dep_w5", environmentId: "env_main", source: { image: "x" },
      replicas: 1, port: 8080, cpuMillicores: 512, memorySizeMib: 512, env: {}
    }])
    const cancel = start(["cancel", "dep_w5", "--command-id", "cmd_cancel_w5", "--wait"])
    expect(await published(otherProject, "cmd_cancel_w5")).toEqual({
      type: "CancelDeployment", commandId: "cmd_cancel_w5", projectId: otherProject, deploymentId: "dep_w5"
    })
    await decide(otherProject, "cmd_cancel_w5", [{ type: "DeploymentCancelled", deploymentId: "dep_w5", step: "krane-create", commandId: "cmd_cancel_w5" }])
    await decide(otherProject, null, [{ type: "DeploymentCompensated", deploymentId: "dep_w5", kraneDeleted: true, releasedDomains: [] }])
    const cancelled = await cancel.done
    expect(cancelled.code).toBe(0)
    expect(cancelled.stdout).toBe([
      `CancelDeployment accepted: dep_w5 in ${otherProject}, command cmd_cancel_w5`,
      "✓ DeploymentCancelled    dep_w5 at krane-create",
      "✓ DeploymentCompensated  dep_w5 krane deleted, released no hostnames",
      ""
    ].join("\n"))
  })
})

describe("a deployment id two projects use (ids are unique only within a project)", () => {
  const requestedBoth = (image: string, environmentId: string): ReadonlyArray<ProjectEvent> => [
    {
      type: "DeploymentRequested",
      deploymentId: "dep_both",
      environmentId,
      source: { image },
      replicas: 1,
      port: 8080,
      cpuMillicores: 512,
      memorySizeMib: 512,
      env: {}
    },
    { type: "DeploymentBuilding", deploymentId: "dep_both" }
  ]

  it("status and cancel say which project with --project, and explain the ambiguity without it", async () => {
    await decide(projectId, "cmd_both_shop", requestedBoth("registry.local/shop:both", "env_prod"))
    await decide(otherProject, "cmd_both_other", requestedBoth("registry.local/other:both", "env_main"))

    const ambiguous = await berth(["status", "dep_both"])
    expect(ambiguous.code).toBe(1)
    expect(ambiguous.stdout).toBe("")
    expect(ambiguous.stderr).toBe(
      "berth: deployment id dep_both is used by several projects (proj_other, proj_shop): name the project, " +
        "/v1/projects/{projectId}/deployments/dep_both (HTTP 409); say which with --project <projectId>\n"
    )

    const other = await berth(["status", "dep_both", "--project", otherProject])
    expect(other.code).toBe(0)
    expect(other.stdout).toMatch(/^Deployment\s+dep_both \(project proj_other, environment env_main\)$/m)
    expect(other.stdout).toMatch(/^Source\s+image registry\.local\/other:both$/m)
    const missing = await berth(["status", "dep_live", "--project", otherProject])
    expect(missing.stderr).toBe("berth: deployment not found: dep_live in project proj_other (HTTP 404)\n")

    const refused = await berth(["cancel", "dep_both", "--command-id", "cmd_cancel_both_x"])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("(HTTP 409); say which with --project <projectId>")
    const cancelled = await berth(["cancel", "dep_both", "--project", projectId, "--command-id", "cmd_cancel_both"])
    expect(cancelled.code).toBe(0)
    expect(cancelled.stdout).toBe(`CancelDeployment accepted: dep_both in ${projectId}, command cmd_cancel_both\n`)
    expect(await lastCommand(projectId)).toEqual({ type: "CancelDeployment", commandId: "cmd_cancel_both", projectId, deploymentId: "dep_both" })
    expect(await lastCommand(otherProject)).not.toMatchObject({ type: "CancelDeployment", deploymentId: "dep_both" })
  })
})
