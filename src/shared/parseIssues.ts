/**
 * The one way a Schema decode failure becomes text: one "path: problem" line per issue, joined with
 * "; ", duplicates once. The "Expected undefined" half of every optional field's union is noise and
 * dropped. A problem with an env value never quotes the value ("Expected string, actual …" loses its
 * second half): these messages are recorded (CommandRejected, dead-letter headers, problem documents).
 */
import { ParseResult } from "effect"

export interface FormatOptions {
  /** The text when no issue is left to show. */
  readonly fallback: string
  /** At most this many issues (an operator's line stays short). */
  readonly max?: number
}

export const formatParseIssues = (error: ParseResult.ParseError, options: FormatOptions): string => {
  const lines = ParseResult.ArrayFormatter.formatErrorSync(error)
    .filter((issue) => !issue.message.startsWith("Expected undefined"))
    .map((issue) => {
      const message = issue.path[0] === "env" && issue.path.length > 1 ? issue.message.replace(/,? actual[\s\S]*$/, "") : issue.message
      return issue.path.length > 0 ? `${issue.path.join(".")}: ${message}` : message
    })
  const unique = [...new Set(lines)]
  return (options.max === undefined ? unique : unique.slice(0, options.max)).join("; ") || options.fallback
}
