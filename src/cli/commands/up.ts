/**
 * `berth up`: runs Berth, exactly what `npm start` runs: the dependency pre-flight
 * (scripts/ensure-deps.mjs), then src/main.ts, in this process. main.ts owns the process from there:
 * its runtime handles Ctrl-C / SIGTERM (stopping everything it started) and sets the exit code.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { defineCommand } from "../command.js"

const projectRoot = fileURLToPath(new URL("../../..", import.meta.url))

export const up = defineCommand({
  name: "up",
  summary: "run Berth (what `npm start` runs): NATS, PostgreSQL, krane-local and each role as a supervised process",
  usage: "[--roles orchestrator,projector,api,gateway] [--cluster 3] [--rebuild-read-model]",
  description: [
    "Checks for (or installs) nats-server and PostgreSQL, then runs Berth in the foreground until Ctrl-C.",
    "Each role runs as its own process, restarted with backoff when it dies; --roles (or BERTH_ROLES) runs a",
    "subset, e.g. one per machine against shared servers. NATS_URL, DATABASE_URL and KRANE_URL use existing",
    "servers instead of starting them (with NATS_CREDS, NATS_USER + NATS_PASSWORD or NATS_TOKEN for NATS,",
    "KRANE_TOKEN for a Krane that wants a bearer token, such as another machine's krane-local);",
    "BERTH_ADMIN_TOKEN sets the API's admin token (else generated into .berth/admin-token), BERTH_ACTOR_KEY the",
    "key the API and the orchestrator share to sign who sent each command (else .berth/actor.key: give every",
    "machine the same), BERTH_ALLOWED_ORIGINS / BERTH_ALLOWED_HOSTS what browsers and Host headers the API accepts;",
    "see the README's Configuration, NATS users and Operations."
  ],
  positionals: { min: 0, max: 0 },
  options: {
    roles: { kind: "string", value: "<roles>", description: "comma-separated roles to run (default all: orchestrator,projector,api,gateway)" },
    cluster: {
      kind: "string",
      value: "<n>",
      description: "run n nats-servers as one JetStream cluster and n orchestrators on this machine (what `npm run cluster` runs; data in .berth-cluster/)"
    },
    "rebuild-read-model": { kind: "boolean", description: "empty the PostgreSQL read model and replay BERTH_EVENTS into it first" }
  },
  run: async () => {
    const preflight = spawnSync(process.execPath, ["scripts/ensure-deps.mjs"], { cwd: projectRoot, stdio: "inherit" })
    if (preflight.status !== 0) return preflight.status ?? 1
    // main.ts reads its flags (--roles, --rebuild-read-model) from process.argv and runs until it is stopped.
    await import("../../main.js")
    return new Promise<number>(() => {})
  }
})
