/**
 * `npm run bench [-- --quick] [-- --only name,name]` (`--only public`: the public-interface workloads
 * only; `--quick`: every workload at a small scale, for checks): starts its own nats-server and PostgreSQL
 * (fsync on), runs each workload in a fresh process, prints one table and writes
 * bench/results/latest.json.
 */
import { spawn } from "node:child_process"
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { cpus, totalmem, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Scope } from "effect"
import postgres from "postgres"
import { startNatsServer } from "../src/local/NatsServer.js"
import { startPostgresServer } from "../src/local/PostgresServer.js"
import { type Figure, resultMarker, type WorkloadResult } from "./lib/figures.js"
import { renderTable } from "./lib/table.js"

interface Workload {
  readonly name: string
  readonly file: string
  readonly env?: Readonly<Record<string, string>>
  readonly nodeArgs?: ReadonlyArray<string>
  readonly quick: boolean
  /** `--only <group>` selects every workload of the group. */
  readonly group?: string
}

const workloads: ReadonlyArray<Workload> = [
  { name: "storm", file: "storm.ts", quick: true },
  { name: "storm-lag", file: "storm.ts", env: { BENCH_PROJECTOR: "1" }, quick: false },
  { name: "busy", file: "busy.ts", quick: true },
  { name: "rehydrate", file: "rehydrate.ts", quick: true },
  { name: "projection", file: "projection.ts", quick: true },
  { name: "memory", file: "memory.ts", nodeArgs: ["--expose-gc"], quick: true },
  // Through the public interface (Berth's own processes): W1/W2 and the history workload W3.
  { name: "public-deploys", file: "public.ts", env: { BENCH_PUBLIC: "deploys" }, quick: true, group: "public" },
  { name: "public-history", file: "public.ts", env: { BENCH_PUBLIC: "history" }, quick: true, group: "public" }
]

const root = fileURLToPath(new URL("..", import.meta.url))
const args = process.argv.slice(2)
const quick = args.includes("--quick")
// `--only=a,b` or `--only a,b`; a name or a group (`--only public`).
const onlyAt = args.findIndex((a) => a === "--only" || a.startsWith("--only="))
const onlyArg = onlyAt < 0 ? undefined : args[onlyAt]?.startsWith("--only=") ? args[onlyAt]?.slice("--only=".length) : args[onlyAt + 1]
const only = onlyArg === undefined ? undefined : new Set(onlyArg.split(","))

const runChild = (w: Workload, env: Record<string, string>): Promise<WorkloadResult> =>
  new Promise((resolve, reject) => {
    const extra = (process.env["BENCH_NODE_ARGS"] ?? "").split(" ").filter((a) => a !== "")
    const child = spawn(process.execPath, [...(w.nodeArgs ?? []), ...extra, "--import", "tsx", join(root, "bench", "workloads", w.file)], {
      cwd: root,
      env: { ...process.env, ...env, ...w.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString()
      if (process.env["BENCH_VERBOSE"] === "1") process.stderr.write(d)
    })
    child.once("error", reject)
    child.once("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith(resultMarker))
      if (code !== 0 || line === undefined) {
        reject(new Error(`workload ${w.name} exited with ${code}:\n${err.slice(-4000)}\n${out.slice(-2000)}`))
        return
      }
      resolve(JSON.parse(line.slice(resultMarker.length)) as WorkloadResult)
    })
  })

const main = async () => {
  const wallStart = Date.now()
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-"))
  chmodSync(dir, 0o755) // PostgreSQL runs as the postgres user when we are root
  const scope = Effect.runSync(Scope.make())
  const stop = async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(dir, { recursive: true, force: true })
  }
  process.once("SIGINT", () => void stop().finally(() => process.exit(130)))
  try {
    const nats = await Effect.runPromise(
      Scope.extend(startNatsServer({ dataDir: join(dir, "nats"), configPath: join(root, "nats.conf") }), scope)
    )
    // fsync on: the PostgreSQL defaults, not the tests' fast mode.
    const pg = await Effect.runPromise(Scope.extend(startPostgresServer({ dataDir: join(dir, "pg") }), scope))

    const nc = await connect({ servers: nats.url })
    const natsVersion = nc.info?.version ?? "unknown"
    await nc.close()
    const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} })
    const [pgRow] = await admin<Array<{ version: string; fsync: string }>>`select version(), current_setting('fsync') as fsync`
    await admin.end()

    const env = { BENCH_NATS_URL: nats.url, BENCH_PG_ADMIN_URL: pg.adminUrl, BENCH_QUICK: quick ? "1" : "0" }
    const results: Array<WorkloadResult> = []
    for (const w of workloads) {
      if (only !== undefined ? !only.has(w.name) && !(w.group !== undefined && only.has(w.group)) : quick && !w.quick) continue
      process.stderr.write(`bench: ${w.name}${quick ? " (quick)" : ""} ...`)
      const result = await runChild(w, env)
      process.stderr.write(` ${(result.elapsedMs / 1000).toFixed(1)} s\n`)
      results.push(result)
    }

    const figures: Array<Figure> = results.flatMap((r) => r.figures)
    const machine = {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      natsServer: natsVersion,
      postgres: pgRow?.version ?? "unknown",
      postgresFsync: pgRow?.fsync ?? "unknown",
      durability: "nats-server 2.9 file store, R1, no per-message fsync; PostgreSQL fsync on"
    }
    console.log(`\nBerth bench (${quick ? "quick" : "full"}), ${machine.cpus} cpus, Node ${machine.node}, nats-server ${machine.natsServer}`)
    console.log(`durability: ${machine.durability} (PostgreSQL fsync=${machine.postgresFsync})\n`)
    console.log(renderTable(figures))
    for (const r of results) for (const note of r.notes) console.log(`- ${r.workload}: ${note}`)
    const file = join(root, "bench", "results", "latest.json")
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(
      file,
      `${JSON.stringify({ mode: quick ? "quick" : "full", at: new Date().toISOString(), wallSeconds: (Date.now() - wallStart) / 1000, machine, results }, null, 2)}\n`
    )
    console.log(`\nwrote ${file} (${((Date.now() - wallStart) / 1000).toFixed(0)} s)`)
  } finally {
    await stop()
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
