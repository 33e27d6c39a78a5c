/**
 * Input limits: the one place their numbers live. The command Schemas (commands.ts), the command
 * intake (raw size before JSON.parse), the API (body size), the BERTH_COMMANDS stream (max_msg_size)
 * and krane-local's CreateDeployment all import them, so every entry point accepts exactly the same
 * commands. Each check returns the problem in words ("at most 256 entries (got 20000)") or undefined;
 * callers put the field's name in front of it.
 *
 * Limits bound what arrives, not what is recorded: the event Schemas keep decoding whatever the log
 * already holds (written before these limits existed), so they do not use these checks.
 *
 * Pure: no I/O. "Characters" are UTF-16 code units (String.length); "bytes" are UTF-8 bytes.
 */

import { parseSealed, sealedCleartextBytes } from "./secrets.js"

const KiB = 1024

export const limits = {
  /** A whole command: the raw JSON bytes of one NATS message or API request body. */
  commandBytes: 256 * KiB,
  /**
   * Room for a command message's NATS headers (Nats-Msg-Id, Nats-Expected-Stream, a trace id…):
   * BERTH_COMMANDS' max_msg_size is commandBytes + this, so every command within the limits fits.
   */
  commandHeaderBytes: 4 * KiB,
  /** Room for the headers the intake adds when it copies a command to BERTH_DLQ (reason, error, origin). */
  deadLetterHeaderBytes: 4 * KiB,
  /** source.image: an OCI reference (registry/repository:tag@sha256:…). */
  imageChars: 512,
  /** source.command: the number of arguments (program included)… */
  commandArgs: 64,
  /** …and the UTF-8 size of each one. */
  commandArgBytes: 4 * KiB,
  /** env: the number of variables… */
  envEntries: 256,
  /** …the length of each name… */
  envKeyChars: 128,
  /** …and the UTF-8 size of every name and value together. */
  envTotalBytes: 64 * KiB,
  /** environments of a CreateProject. */
  environments: 16,
  /** defaultBranch and git.branch (unchanged: they were bounded at 255 before). */
  branchChars: 255,
  /** git.message: longer messages are trimmed to this (not refused), as before (Unkey keeps it whole up to here). */
  gitMessageChars: 10_240,
  /** openApiPath: a URL path. */
  openApiPathChars: 1024,
  /** A command's `type` (its header is read before the command is decoded; an unknown type is echoed back). */
  commandTypeChars: 64
} as const

/** UTF-8 size of `text` without encoding it (lone surrogates count 3 bytes, as TextEncoder writes U+FFFD). */
export const utf8Bytes = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff) {
      // Past the end charCodeAt is NaN, which is no low surrogate: a lone high one at the end is 3 bytes.
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}

/** "256 KiB (262144 bytes)"-style wording for a byte limit (each one is a whole number of KiB). */
const bytesText = (n: number): string => `${n / KiB} KiB (${n} bytes)`

/** A problem in words, or undefined when the value is within its limit. */
export type LimitIssue = string | undefined

export const checkMaxChars = (max: number) => (text: string): LimitIssue =>
  text.length > max ? `at most ${max} characters (got ${text.length})` : undefined

/** A whole command's size: raw bytes as received (intake, API body) or as Berth would publish it. */
export const checkCommandBytes = (bytes: number): LimitIssue =>
  bytes > limits.commandBytes ? `a command is at most ${bytesText(limits.commandBytes)} of JSON (got ${bytes} bytes)` : undefined

/** The size of `command` as published (JSON.stringify, UTF-8): what the stream and the intake will see. */
export const encodedCommandBytes = (command: unknown): number => utf8Bytes(JSON.stringify(command) ?? "")

export const checkImage = checkMaxChars(limits.imageChars)

export const checkCommandArgs = (args: ReadonlyArray<string>): LimitIssue => {
  if (args.length > limits.commandArgs) return `at most ${limits.commandArgs} arguments (got ${args.length})`
  for (const [index, arg] of args.entries()) {
    const bytes = utf8Bytes(arg)
    if (bytes > limits.commandArgBytes) return `argument ${index} is at most ${bytesText(limits.commandArgBytes)} (got ${bytes} bytes)`
  }
  return undefined
}

/** The key as quoted in a message: a long key is cut so the message stays short. */
const quoteKey = (key: string): string => JSON.stringify(key.length > 32 ? `${key.slice(0, 32)}…` : key)

/** What a process environment variable may be called (POSIX shells' rule). */
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * A value's size as the limit counts it: a sealed value (secrets.ts) counts its cleartext, so sealing
 * (about 4/3 of the size plus ~60 bytes) never pushes an env over the limit it met in cleartext.
 */
const valueBytes = (value: string): number => {
  const sealed = parseSealed(value)
  return sealed === undefined ? utf8Bytes(value) : sealedCleartextBytes(sealed)
}

export const checkEnv = (env: Readonly<Record<string, string>>): LimitIssue => {
  const entries = Object.entries(env)
  if (entries.length > limits.envEntries) return `at most ${limits.envEntries} entries (got ${entries.length})`
  let total = 0
  for (const [key, value] of entries) {
    if (key.length > limits.envKeyChars) {
      return `name ${quoteKey(key)} is at most ${limits.envKeyChars} characters (got ${key.length})`
    }
    if (!envName.test(key)) return `name ${quoteKey(key)} is not a variable name (letters, digits and _, not starting with a digit)`
    total += utf8Bytes(key) + valueBytes(value)
  }
  return total > limits.envTotalBytes
    ? `names and values together are at most ${bytesText(limits.envTotalBytes)} (got ${total} bytes)`
    : undefined
}

/** Every limit's check, for a field named `field` ("env", "deployment.env"): the message names it. */
export const namedIssue = (field: string, issue: LimitIssue): string | undefined => (issue === undefined ? undefined : `${field}: ${issue}`)
