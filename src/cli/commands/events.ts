/**
 * `berth events <projectId>`: the project's audit trail (GET /v1/projects/:p/events, every page),
 * oldest first, one line per event or NDJSON with --json; --follow keeps printing new events.
 */
import type { AuditEventWire } from "../apiClient.js"
import { defineCommand, exitCodes, integerOption } from "../command.js"
import { eventLine } from "../eventText.js"
import { EventCursor, sleep } from "../watch.js"

const name = "events"
const followEveryMs = 500

export const events = defineCommand({
  name,
  summary: "the project's audit trail: every event Berth recorded, oldest first",
  usage: "<projectId> [--limit <n>] [--json] [--follow]",
  description: [
    "Each line: #<stream sequence>  <time>  <event type>  <key fields>  [<command id> by <actor>], where the",
    "actor is the API token that sent the command (tok_…, admin) or nats for any other publisher. With --json,",
    "one JSON object per line as the API serves it ({streamSeq, index, type, commandId, actor, at, payload}).",
    "--limit shows only the last n events; --follow then keeps printing new ones until Ctrl-C."
  ],
  positionals: { min: 1, max: 1 },
  options: {
    limit: { kind: "string", value: "<n>", description: "show only the last n events" },
    json: { kind: "boolean", description: "NDJSON: one event per line, as the API serves it" },
    follow: { kind: "boolean", short: "f", description: "keep printing new events as they are recorded" }
  },
  examples: ["berth events proj_hello", "berth events proj_hello --limit 20 --follow", "berth events proj_hello --json | jq .type"],
  run: async ({ positionals, options }, context) => {
    const projectId = positionals[0] ?? ""
    const limit = integerOption(name, "limit", options.limit)
    const api = context.api()
    const print = (event: AuditEventWire): void => context.out(options.json === true ? JSON.stringify(event) : eventLine(event))
    // The first page tells an unknown project (404, one clear line) from one with no events yet.
    const first = await api.events(projectId, { limit: 500 })
    const cursor = new EventCursor(api, projectId, first.events[first.events.length - 1]?.streamSeq ?? 0)
    const backlog = first.nextCursor === null ? first.events : [...first.events, ...(await cursor.next())]
    for (const event of limit === undefined ? backlog : backlog.slice(Math.max(backlog.length - limit, 0))) print(event)
    if (options.follow !== true) return exitCodes.ok
    for (;;) {
      await sleep(followEveryMs)
      for (const event of await cursor.next()) print(event)
    }
  }
})
