/** What bench/run.ts hands every workload child: server URLs and the mode, via the environment. */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { natsServers } from "../../src/nats/servers.js"

export interface BenchEnv {
  readonly natsUrl: string
  /** The `postgres` database of the bench's PostgreSQL (create scratch databases from it). */
  readonly pgAdminUrl: string
  readonly quick: boolean
}

export const benchEnv = (): BenchEnv => {
  const natsUrl = process.env["BENCH_NATS_URL"]
  const pgAdminUrl = process.env["BENCH_PG_ADMIN_URL"]
  if (natsUrl === undefined || pgAdminUrl === undefined) {
    throw new Error("BENCH_NATS_URL and BENCH_PG_ADMIN_URL must be set: run workloads through `npm run bench`")
  }
  return { natsUrl, pgAdminUrl, quick: process.env["BENCH_QUICK"] === "1" }
}

/** Full-mode size, or the quick one. */
export const size = (env: BenchEnv, full: number, quick: number): number => (env.quick ? quick : full)

/**
 * A clean slate: deletes every stream (Berth's streams, KV and object buckets, earlier bench scratch
 * streams), as on a fresh server. Each workload starts with this, so none sees another's data.
 */
export const resetJetStream = async (natsUrl: string): Promise<void> => {
  const nc = await connect({ servers: natsServers(natsUrl), noAsyncTraces: true })
  try {
    const jsm = await jetstreamManager(nc)
    const names: Array<string> = []
    for await (const name of jsm.streams.names()) names.push(name)
    for (const name of names) await jsm.streams.delete(name)
  } finally {
    await nc.close()
  }
}

/** Runs a workload's main, printing a failure to stderr and exiting non-zero. */
export const runMain = (main: () => Promise<void>): void => {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
      process.exit(1)
    }
  )
}
