/**
 * The `berth` CLI's command model: each command declares its positionals and options; the argv
 * parser, the per-command `--help` text and usage errors are derived from that declaration.
 * Parsing by hand (no CLI library): `--name value`, `--name=value`, repeatable list options, `-h`,
 * and everything after `--` handed over untouched where a command accepts it.
 */
import type { ApiClient } from "./apiClient.js"

// The command model uses the client; the client never uses the command model (only its errors).
import { CliError, exitCodes } from "./errors.js"

export { CliError, exitCodes }

export type OptionKind = "string" | "boolean" | "list"

export interface OptionSpec {
  readonly kind: OptionKind
  readonly description: string
  /** For string and list options: what the value is, e.g. `<url>`. */
  readonly value?: string
  readonly short?: string
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>

type OptionValue<S extends OptionSpec> = S["kind"] extends "boolean" ? boolean
  : S["kind"] extends "list" ? ReadonlyArray<string>
  : string

export interface Parsed<S extends OptionSpecs> {
  readonly positionals: ReadonlyArray<string>
  /** Present when the argv had `--` (only for commands that accept it). */
  readonly rest: ReadonlyArray<string> | undefined
  readonly options: { readonly [K in keyof S]?: OptionValue<S[K]> }
}

export interface Output {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
}

export interface Runtime extends Output {
  /** The status API client for `--api` when given, else BERTH_API_URL / run.json / the default. */
  readonly apiFor: (flag: string | undefined) => ApiClient
}

export interface Context extends Output {
  /** The status API client (resolved on first use, so `berth up` needs no API). */
  readonly api: () => ApiClient
}

/** Options every command takes. */
export const commonOptions = {
  api: { kind: "string", value: "<url>", description: "the status API (default: $BERTH_API_URL, else .berth/run.json, else http://127.0.0.1:8787)" },
  help: { kind: "boolean", short: "h", description: "show this help" }
} as const satisfies OptionSpecs

export interface CommandDefinition<S extends OptionSpecs> {
  /** As typed after `berth`: `deploy`, `project create`. */
  readonly name: string
  readonly summary: string
  /** Positional arguments and flags in usage form, after the name: `<projectId> [--wait]`. */
  readonly usage: string
  /** Paragraphs printed after the usage line. */
  readonly description?: ReadonlyArray<string>
  readonly positionals: { readonly min: number; readonly max: number }
  /** Whether `-- args…` is accepted (otherwise `--` is a usage error). */
  readonly rest?: boolean
  readonly options: S
  readonly examples?: ReadonlyArray<string>
  readonly run: (args: Parsed<S & typeof commonOptions>, context: Context) => Promise<number>
}

export interface Command {
  readonly name: string
  readonly summary: string
  readonly help: () => string
  /** Parses argv (the words after the command name) and runs; resolves with the exit code. */
  readonly execute: (argv: ReadonlyArray<string>, runtime: Runtime) => Promise<number>
}

const usageError = (name: string, message: string): CliError => new CliError(`${message} (see: berth ${name} --help)`)

/** Parses argv against `specs`; usage mistakes are CliErrors naming the command. */
export const parseArgs = <S extends OptionSpecs>(
  name: string,
  specs: S,
  argv: ReadonlyArray<string>,
  acceptsRest: boolean
): Parsed<S> => {
  const positionals: Array<string> = []
  const options: Record<string, string | boolean | Array<string>> = {}
  let rest: Array<string> | undefined
  const byShort = new Map(Object.entries(specs).flatMap(([key, spec]) => (spec.short === undefined ? [] : [[spec.short, key] as const])))
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ""
    if (arg === "--") {
      if (!acceptsRest) throw usageError(name, "unexpected `--`")
      rest = argv.slice(i + 1)
      break
    }
    const long = /^--([^=]+)(?:=([\s\S]*))?$/.exec(arg)
    const short = long === null ? /^-([A-Za-z])$/.exec(arg) : null
    if (long === null && short === null) {
      positionals.push(arg)
      continue
    }
    const key = long !== null ? long[1] ?? "" : byShort.get(short?.[1] ?? "") ?? ""
    const spec = specs[key]
    if (spec === undefined) throw usageError(name, `unknown option ${arg.split("=")[0] ?? arg}`)
    const inline = long?.[2]
    if (spec.kind === "boolean") {
      if (inline !== undefined) throw usageError(name, `option --${key} takes no value`)
      options[key] = true
      continue
    }
    let value = inline
    if (value === undefined) {
      value = argv[i + 1]
      if (value === undefined) throw usageError(name, `option --${key} needs a value ${spec.value ?? ""}`.trimEnd())
      i++
    }
    if (spec.kind === "list") {
      const list = options[key]
      options[key] = Array.isArray(list) ? [...list, value] : [value]
    } else {
      if (options[key] !== undefined) throw usageError(name, `option --${key} given twice`)
      options[key] = value
    }
  }
  // The record was filled from `specs` only, each value of its kind: it is the declared shape.
  return { positionals, rest, options: options as Parsed<S>["options"] }
}

const optionLines = (specs: OptionSpecs): Array<string> => {
  const entries = Object.entries(specs).map(([key, spec]) => {
    const flag = `${spec.short === undefined ? "    " : `-${spec.short}, `}--${key}${spec.value === undefined ? "" : ` ${spec.value}`}`
    return [flag, spec.kind === "list" ? `${spec.description} (repeatable)` : spec.description] as const
  })
  const widest = Math.max(0, ...entries.map(([flag]) => flag.length))
  return entries.map(([flag, description]) => `  ${flag.padEnd(widest)}  ${description}`)
}

export const defineCommand = <S extends OptionSpecs>(definition: CommandDefinition<S>): Command => {
  const specs = { ...definition.options, ...commonOptions }
  const help = (): string =>
    [
      `berth ${definition.name} — ${definition.summary}`,
      "",
      `Usage: berth ${definition.name} ${definition.usage}`.trimEnd(),
      ...(definition.description === undefined ? [] : ["", ...definition.description]),
      "",
      "Options:",
      ...optionLines(specs),
      ...(definition.examples === undefined ? [] : ["", "Examples:", ...definition.examples.map((e) => `  ${e}`)]),
      ""
    ].join("\n")
  return {
    name: definition.name,
    summary: definition.summary,
    help,
    execute: async (argv, runtime) => {
      const args = parseArgs(definition.name, specs, argv, definition.rest === true)
      if (args.options.help === true) {
        runtime.out(help().trimEnd())
        return exitCodes.ok
      }
      const flag = args.options.api
      let api: ApiClient | undefined
      const context: Context = {
        out: runtime.out,
        err: runtime.err,
        api: () => (api ??= runtime.apiFor(typeof flag === "string" ? flag : undefined))
      }
      const { min, max } = definition.positionals
      if (args.positionals.length < min) throw usageError(definition.name, `missing argument: berth ${definition.name} ${definition.usage}`)
      if (args.positionals.length > max) throw usageError(definition.name, `unexpected argument: ${args.positionals[max] ?? ""}`)
      return definition.run(args, context)
    }
  }
}

/** A string option as a positive integer, or a usage error. */
export const integerOption = (name: string, option: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw usageError(name, `--${option} must be a whole number, got "${value}"`)
  return Number(value)
}

/** The value of a required option, or a usage error saying so. */
export const required = <A>(command: string, value: A | undefined, message: string): A => {
  if (value === undefined) throw usageError(command, message)
  return value
}

export { usageError }
