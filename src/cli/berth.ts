/**
 * The `berth` CLI: `berth <command> [args]` (`npm run berth -- …`, or `./bin/berth …` from the
 * checkout). Runs Berth (`up`) and talks to its status API for everything else; the API URL is
 * `--api <url>`, else BERTH_API_URL, else the `api` of the run.json `npm start` writes, else
 * http://127.0.0.1:8787. Errors are one line on stderr: `berth: <what went wrong>`.
 * Exit codes: 0 ok, 1 error (or failed, cancelled, rejected), 2 timed out waiting.
 */
import { ApiClient, resolveApiUrl } from "./apiClient.js"
import { CliError, type Command, exitCodes, type Runtime } from "./command.js"
import { cancel } from "./commands/cancel.js"
import { deploy } from "./commands/deploy.js"
import { events } from "./commands/events.js"
import { natsConfig } from "./commands/nats.js"
import { projectCreate } from "./commands/project.js"
import { promote } from "./commands/promote.js"
import { rollback } from "./commands/rollback.js"
import { secretsRotate, secretsSeal } from "./commands/secrets.js"
import { status } from "./commands/status.js"
import { tokenCreate, tokenList, tokenRevoke } from "./commands/token.js"
import { up } from "./commands/up.js"

const commands: ReadonlyArray<Command> = [up, projectCreate, deploy, status, events, rollback, promote, cancel, tokenCreate, tokenList, tokenRevoke, secretsSeal, secretsRotate, natsConfig]

const overview = (): string =>
  [
    "berth — the Berth deployment orchestrator's command line",
    "",
    "Usage: berth [--api <url>] <command> [args]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(16)}${c.summary}`),
    `  ${"help [command]".padEnd(16)}this help, or a command's (also: berth <command> --help)`,
    "",
    "The status API: --api <url>, else $BERTH_API_URL, else the `api` in .berth/run.json (written by",
    "`berth up` / `npm start`), else http://127.0.0.1:8787.",
    "The API token: $BERTH_TOKEN, else the admin token in .berth/admin-token (written by `npm start`).",
    "Exit codes: 0 ok, 1 error (or failed, cancelled, rejected), 2 timed out waiting (--wait).",
    ""
  ].join("\n")

/** The command named by the first one or two words; the words after it. */
const lookup = (words: ReadonlyArray<string>): { readonly command: Command; readonly argv: ReadonlyArray<string> } | undefined => {
  for (const command of commands) {
    const parts = command.name.split(" ")
    if (parts.every((part, i) => words[i] === part)) return { command, argv: words.slice(parts.length) }
  }
  return undefined
}

const runtime = (globalApi: string | undefined): Runtime => ({
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
  apiFor: (flag) => new ApiClient(resolveApiUrl(flag ?? globalApi).url)
})

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  // Options before the command: --api <url> (or --api=<url>), --help.
  let globalApi: string | undefined
  let words = argv
  for (;;) {
    const first = words[0]
    if (first === "--api") {
      globalApi = words[1]
      if (globalApi === undefined) throw new CliError("option --api needs a value <url>")
      words = words.slice(2)
    } else if (first?.startsWith("--api=") === true) {
      globalApi = first.slice("--api=".length)
      words = words.slice(1)
    } else break
  }
  const io = runtime(globalApi)
  const [first, ...rest] = words
  if (first === undefined) {
    io.err(overview().trimEnd())
    return exitCodes.failed
  }
  if (first === "help" || first === "--help" || first === "-h") {
    const found = rest.length === 0 ? undefined : lookup(rest)
    if (rest.length > 0 && found === undefined) throw new CliError(`unknown command "${rest.join(" ")}" (see: berth help)`)
    io.out((found === undefined ? overview() : found.command.help()).trimEnd())
    return exitCodes.ok
  }
  const found = lookup(words)
  if (found === undefined) {
    const group = commands.filter((c) => c.name.startsWith(`${first} `))
    if (group.length > 0 && (rest.length === 0 || rest[0] === "--help" || rest[0] === "-h")) {
      const text = [`berth ${first} commands:`, ...group.map((c) => `  berth ${c.name.padEnd(16)}${c.summary}`)].join("\n")
      if (rest.length === 0) io.err(text)
      else io.out(text)
      return rest.length === 0 ? exitCodes.failed : exitCodes.ok
    }
    throw new CliError(`unknown command "${[first, ...(group.length > 0 ? rest.slice(0, 1) : [])].join(" ")}" (see: berth help)`)
  }
  return found.command.execute(found.argv, io)
}

// Not a top-level await: `berth up` hands the process to main.ts and never settles.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    if (error instanceof CliError) {
      process.stderr.write(`berth: ${error.message}\n`)
      process.exitCode = error.exitCode
    } else {
      process.stderr.write(`berth: unexpected error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
      process.exitCode = exitCodes.failed
    }
  }
)
