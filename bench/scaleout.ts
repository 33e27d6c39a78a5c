/**
 * `npx tsx bench/scaleout.ts [--deploys 300] [--runs unpartitioned:1,partitioned:1,partitioned:2]`: the
 * deploy storm through real orchestrator processes (what `berth up --roles orchestrator` runs on each
 * machine), with 1 or 2 of them, on a fresh nats-server with (partitioned) or without the partition
 * mapping, and an HTTP Krane whose instances run at once. Per run: deployments per second from the first
 * Deploy published to the last DeploymentReady, and the CPU each orchestrator and nats-server spent per
 * deployment (/proc utime+stime), the figure that stays comparable on a shared, loaded machine.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { jetstream } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { subjects, buckets } from "../src/nats/subjects.js"
import { startFakeKraneHttpServer } from "../test/support/FakeKraneHttpServer.js"
import { createProjectCommand, deployCommand } from "../test/support/orchestrator.js"
import { startOrchestratorProcess, type OrchestratorProcess } from "../test/support/orchestratorProcess.js"
import { startTestNats } from "../test/support/servers.js"

const partitions = 64
const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(`--${name}`)
  return at < 0 ? fallback : args[at + 1] ?? fallback
}
const deploys = Number(option("deploys", "300"))
const runs = option("runs", "unpartitioned:1,partitioned:1,partitioned:2")
  .split(",")
  .map((run) => {
    const [mode = "", count = "1"] = run.split(":")
    return { partitioned: mode === "partitioned", orchestrators: Number(count) }
  })

/** CPU ms a process has used so far (utime + stime, clock ticks of 10 ms). */
const cpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

const until = async (what: string, check: () => Promise<boolean> | boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const ownersSplit = async (nc: NatsConnection, count: number) => {
  const kv = await new Kvm(nc).open(buckets.partitions)
  const owners = new Map<string, number>()
  for (let p = 0; p < partitions; p++) {
    const entry = await kv.get(`partitions.${p}`)
    if (entry?.operation === "PUT") {
      const owner = entry.json<{ owner: string }>().owner
      owners.set(owner, (owners.get(owner) ?? 0) + 1)
    }
  }
  return owners.size === count && [...owners.values()].every((n) => n >= Math.floor(partitions / count))
}

const runOnce = async (partitioned: boolean, count: number) => {
  const nats = await startTestNats(partitioned ? { partitions } : {})
  const krane = await startFakeKraneHttpServer()
  krane.krane.setInstanceAddress(() => "127.0.0.1:9")
  const orchestrators: Array<OrchestratorProcess> = []
  const nc = await connect({ servers: nats.url, noAsyncTraces: true })
  try {
    const env = {
      NATS_URL: nats.url,
      KRANE_URL: krane.url,
      BERTH_PARTITIONS: String(partitions),
      BERTH_POLL_INTERVAL: "50 millis",
      BERTH_STEP_ATTEMPTS_SCRAPE_OPENAPI: "1",
      BERTH_SCRAPE_TIMEOUT: "1 second",
      // The test commands' apex domain (vitest.config.ts sets the same list for the tests).
      BERTH_APEX_DOMAINS: "berth.localhost,localhost,berth.test,example.com"
    }
    for (let i = 0; i < count; i++) orchestrators.push(await startOrchestratorProcess(env))
    if (partitioned) await until("the partitions split", () => ownersSplit(nc, count), 60_000)
    const js = jetstream(nc)
    const ready = new Set<string>()
    const created = new Set<string>()
    nc.subscribe(subjects.eventsAll, {
      callback: (_, message) => {
        const envelope = message.json<{ projectId: string; events: ReadonlyArray<{ type: string; deploymentId?: string }> }>()
        for (const event of envelope.events) {
          if (event.type === "ProjectCreated") created.add(envelope.projectId)
          if (event.type === "DeploymentReady" && event.deploymentId !== undefined) ready.add(event.deploymentId)
        }
      }
    })
    const ids = Array.from({ length: deploys }, (_, i) => `p_scale_${i}`)
    await Promise.all(ids.map((id) => js.publish(subjects.command(id), JSON.stringify(createProjectCommand(id)))))
    await until("every project created", () => created.size === ids.length, 120_000).catch((error: unknown) => {
      for (const o of orchestrators) {
        const lines = o.output().split("\n").filter((line) => /level=(WARN|ERROR)|took|released|lost/.test(line))
        console.error(`orchestrator ${o.pid}: ${lines.length} warning/error lines; the last:\n${lines.slice(-40).join("\n")}`)
      }
      console.error(`${created.size} of ${ids.length} created`)
      throw error
    })
    const natsServer = nats.pid
    const cpuBefore = orchestrators.map((o) => cpuMs(o.pid))
    const natsBefore = cpuMs(natsServer)
    const started = performance.now()
    await Promise.all(ids.map((id) => js.publish(subjects.command(id), JSON.stringify(deployCommand(id, `dep_${id}`)))))
    await until("every deployment ready", () => ready.size === ids.length, 300_000).catch((error: unknown) => {
      for (const o of orchestrators) {
        const lines = o.output().split("\n").filter((line) => /level=(WARN|ERROR)|took|released|lost/.test(line))
        console.error(`orchestrator ${o.pid}: ${lines.length} warning/error lines; the last:\n${lines.slice(-40).join("\n")}`)
      }
      console.error(`${ready.size} of ${ids.length} ready`)
      throw error
    })
    const seconds = (performance.now() - started) / 1000
    const perDeploy = (before: number, pid: number) => (cpuMs(pid) - before) / deploys
    return {
      mode: partitioned ? `partitioned (${partitions})` : "unpartitioned",
      orchestrators: count,
      deploysPerSecond: Math.round((deploys / seconds) * 10) / 10,
      orchestratorCpuMsPerDeploy: orchestrators.map((o, i) => Math.round(perDeploy(cpuBefore[i] ?? 0, o.pid) * 100) / 100),
      natsCpuMsPerDeploy: Math.round(perDeploy(natsBefore, natsServer) * 100) / 100
    }
  } finally {
    if (process.env["SCALEOUT_LOGS"] !== undefined) {
      for (const o of orchestrators) writeFileSync(`${process.env["SCALEOUT_LOGS"]}/orchestrator-${o.pid}.log`, o.output())
    }
    await nc.close()
    await Promise.all(orchestrators.map((o) => o.stop()))
    await krane.close()
    await nats.stop()
  }
}

const results = []
for (const run of runs) {
  const result = await runOnce(run.partitioned, run.orchestrators)
  console.log(JSON.stringify(result))
  results.push(result)
}
console.log(`\n${deploys} deployments each; load average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`)
for (const r of results) {
  console.log(
    `${r.mode.padEnd(18)} ${String(r.orchestrators).padStart(2)} orchestrator(s): ${String(r.deploysPerSecond).padStart(6)} deployments/s; orchestrator CPU ms/deployment ${r.orchestratorCpuMsPerDeploy.join(" + ")}; nats-server ${r.natsCpuMsPerDeploy}`
  )
}
