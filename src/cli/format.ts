/**
 * Plain-text formatting for the `berth` CLI: aligned tables, durations, times and ages. No
 * dependencies; columns are measured in code points (the symbols used here are one column wide).
 */

const width = (text: string): number => [...text].length

const pad = (text: string, size: number, align: "left" | "right"): string => {
  const fill = " ".repeat(Math.max(size - width(text), 0))
  return align === "left" ? text + fill : fill + text
}

export interface TableOptions {
  /** Column titles, printed as the first row. */
  readonly header?: ReadonlyArray<string>
  /** Per column; default left. */
  readonly align?: ReadonlyArray<"left" | "right">
  /** Prefix of every line (default none). */
  readonly indent?: string
  /** Spaces between columns (default 2). */
  readonly gap?: number
}

/** Rows as lines with aligned columns; trailing spaces are trimmed. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>, options: TableOptions = {}): Array<string> => {
  const all = options.header === undefined ? rows : [options.header, ...rows]
  const columns = Math.max(0, ...all.map((row) => row.length))
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...all.map((row) => width(row[i] ?? ""))))
  const gap = " ".repeat(options.gap ?? 2)
  return all.map((row) =>
    (options.indent ?? "") +
    widths.map((size, i) => pad(row[i] ?? "", size, options.align?.[i] ?? "left")).join(gap).trimEnd()
  )
}

/** `0.06s`, `12.3s`, `4m 05s`, `2h 03m`, `3d 04h`. */
export const duration = (ms: number): string => {
  const safe = Math.max(ms, 0)
  if (safe < 10_000) return `${(safe / 1000).toFixed(2)}s`
  if (safe < 60_000) return `${(safe / 1000).toFixed(1)}s`
  const seconds = Math.round(safe / 1000)
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, "0")}s`
  const minutes = Math.round(seconds / 60)
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`
  const hours = Math.round(minutes / 60)
  return `${Math.floor(hours / 24)}d ${String(hours % 24).padStart(2, "0")}h`
}

/** How long ago, coarsely: `5s ago`, `3m ago`, `2h ago`, `4d ago`. */
export const age = (at: Date, now: Date = new Date()): string => {
  const seconds = Math.max(Math.round((now.getTime() - at.getTime()) / 1000), 0)
  if (seconds < 60) return `${seconds}s ago`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`
  return `${Math.floor(seconds / 86_400)}d ago`
}

const two = (n: number): string => String(n).padStart(2, "0")

/** Local time `2026-01-01 12:00:05` (set TZ for another zone). */
export const time = (at: Date): string =>
  `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`

/** An API timestamp (ISO-8601 string) as a Date. */
export const date = (iso: string): Date => new Date(iso)

const units: Readonly<Record<string, number>> = {
  ms: 1, millis: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000
}

/** `500ms`, `30s`, `10m`, `1h`, `5 minutes`; a bare number is seconds. Undefined when not a duration. */
export const parseDuration = (text: string): number | undefined => {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(text.trim().toLowerCase())
  if (match === null) return undefined
  const unit = match[2] === undefined || match[2] === "" ? 1000 : units[match[2]]
  return unit === undefined ? undefined : Number(match[1]) * unit
}

/** Human-readable byte size: `512 B`, `1.5 KiB`, `2.0 MiB`. */
export const bytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`

/**
 * Splits a command line into arguments like a POSIX shell would for plain words: whitespace
 * separates, single quotes are literal, double quotes allow `\"` and `\\`, a backslash outside quotes
 * escapes the next character. No expansion of any kind. Undefined when a quote is left open.
 */
export const splitCommandLine = (line: string): Array<string> | undefined => {
  const words: Array<string> = []
  let current = ""
  let inWord = false
  let quote: "'" | "\"" | null = null
  const chars = [...line]
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? ""
    if (quote === "'") {
      if (c === "'") quote = null
      else current += c
    } else if (quote === "\"") {
      if (c === "\"") quote = null
      else if (c === "\\" && (chars[i + 1] === "\"" || chars[i + 1] === "\\")) current += chars[++i] ?? ""
      else current += c
    } else if (c === "'" || c === "\"") {
      quote = c
      inWord = true
    } else if (c === "\\") {
      current += chars[++i] ?? ""
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current)
      current = ""
      inWord = false
    } else {
      current += c
      inWord = true
    }
  }
  if (quote !== null) return undefined
  if (inWord) words.push(current)
  return words
}
