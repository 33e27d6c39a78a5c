/**
 * `berth up --cluster 3` (what `npm run cluster` runs), orchestrators only, against a fake Krane over
 * HTTP: three nats-servers with Berth's users, route credentials and the partition mapping, three
 * supervised orchestrators sharing the partitions, the banner saying so. A deployment goes live; the node leading BERTH_EVENTS is killed (kill -9) and
 * the next deployment goes live on the other two; stopping Berth stops every node it started.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { afterAll, beforeAll, expect, it } from "vitest"
import { natsServers } from "../../src/nats/servers.js"
import { streams } from "../../src/nats/subjects.js"
import { startBerth, type BerthProcess } from "../support/berthProcess.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { startFakeKraneHttpServer, type FakeKraneHttpServer } from "../support/FakeKraneHttpServer.js"
import { type Client, connectClient, createProjectCommand, deployCommand } from "../support/orchestrator.js"
import { isAlive } from "../support/processes.js"

const fakeKrane = makeFakeKrane()
let krane: FakeKraneHttpServer
let berth: BerthProcess
let client: Client | undefined

beforeAll(async () => {
  fakeKrane.setReadyAfterPolls(1)
  krane = await startFakeKraneHttpServer({ krane: fakeKrane })
  berth = await startBerth({ KRANE_URL: krane.url, BERTH_ROLES: "orchestrator" }, ["--cluster", "3"])
}, 180_000)

afterAll(async () => {
  await client?.close()
  await berth?.kill("SIGKILL")
  await krane?.close()
})

it("runs three NATS nodes and three orchestrators; a deployment goes live after the events leader's node is killed", async () => {
  const output = berth.output()
  expect(output).toContain('replication  3 replicas per stream (detected; cluster "berth" of 3 servers)')
  // Every node maps commands into partitions, so the three orchestrators share the projects by lease.
  expect(output).toMatch(/partitions {3}64 partitions over the orchestrators/)
  const nodes = [...output.matchAll(/(berth-\d) \(pid (\d+), port (\d+)\)/g)].map(([, name = "", pid = "", port = ""]) => ({ name, pid: Number(pid), port: Number(port) }))
  expect(nodes.map((node) => node.name)).toEqual(["berth-1", "berth-2", "berth-3"])
  expect(natsServers(berth.natsUrl())).toEqual(nodes.map((node) => `nats://127.0.0.1:${node.port}`))
  for (const name of ["orchestrator-1", "orchestrator-2", "orchestrator-3"]) expect(berth.rolePid(name), name).toBeGreaterThan(0)

  // As a service sending commands would: the publisher user, its generated password.
  const password = readFileSync(join(berth.dataDir, "nats", "publisher.password"), "utf8").trim()
  client = await connectClient(berth.natsUrl(), { user: "publisher", pass: password, inboxPrefix: "_INBOX_publisher" })
  const projectId = "proj_launcher"
  await client.publish(projectId, createProjectCommand(projectId))
  await client.publish(projectId, deployCommand(projectId, "dep_launcher_1"))
  await client.waitForEvent(projectId, (event) => event.type === "DeploymentReady", 60_000)

  const leader = (await (await jetstreamManager(client.nc)).streams.info(streams.events)).cluster?.leader
  const victim = nodes.find((node) => node.name === leader)
  if (victim === undefined) throw new Error(`BERTH_EVENTS is led by ${leader}, not one of ${nodes.map((node) => node.name).join(", ")}`)
  process.kill(victim.pid, "SIGKILL")
  const killedAt = Date.now()
  const published = client
  // The publish itself may meet the dead node's connection, or BERTH_COMMANDS electing a new leader (no
  // responders): tried again until the cluster takes it (deduplicated by its Nats-Msg-Id).
  for (const deadline = Date.now() + 60_000; ; ) {
    try {
      await published.js.publish(`berth.cmd.${projectId}`, JSON.stringify(deployCommand(projectId, "dep_launcher_2")), { msgID: "cmd_dep_launcher_2", timeout: 5_000 })
      break
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  // Reads fail too while the stream elects a new leader and the client moves to a live node: polled.
  const deadline = Date.now() + 90_000
  let events = await published.events(projectId).catch(() => [])
  while (!events.some((event) => event.type === "DeploymentReady" && event.deploymentId === "dep_launcher_2")) {
    if (Date.now() > deadline) throw new Error(`dep_launcher_2 not live 90 s after the kill; the log holds:\n${events.map((event) => JSON.stringify(event)).join("\n")}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    events = await published.events(projectId).catch(() => events)
  }
  console.log(`killed ${victim.name} (BERTH_EVENTS leader): the next deployment was live ${Date.now() - killedAt} ms later`)
  expect(events.filter((event) => event.type === "DeploymentReady").map((event) => ("deploymentId" in event ? event.deploymentId : ""))).toEqual([
    "dep_launcher_1",
    "dep_launcher_2"
  ])

  await client.close()
  client = undefined
  await berth.kill("SIGTERM")
  expect(nodes.filter((node) => isAlive(node.pid)).map((node) => node.name), "nats-servers left running").toEqual([])
})
