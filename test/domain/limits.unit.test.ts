/**
 * Input limits as a publisher sees them: each command goes through the intake's triage (what
 * `berth.cmd.<projectId>` does with raw JSON), at and just over every limit. The answer is either
 * accepted, a CommandRejected naming the field, or a dead letter.
 */
import { Either, ParseResult, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { triage } from "../../src/actors/CommandIntake.js"
import { Command } from "../../src/domain/commands.js"
import { checkEnv, limits, namedIssue, utf8Bytes } from "../../src/domain/limits.js"

const subject = "berth.cmd.proj_1"
const deploy = (extra: Record<string, unknown>) => ({
  type: "Deploy",
  commandId: "cmd_1",
  projectId: "proj_1",
  deploymentId: "dep_1",
  environmentId: "env_prod",
  source: { image: "ghcr.io/acme/shop:1" },
  ...extra
})
const createProject = (extra: Record<string, unknown>) => ({
  type: "CreateProject",
  commandId: "cmd_1",
  projectId: "proj_1",
  workspace: "acme",
  slug: "shop",
  apexDomain: "berth.test",
  environments: [{ id: "env_prod", slug: "production", kind: "production" }],
  ...extra
})
const envOf = (entries: number, value = "") => Object.fromEntries(Array.from({ length: entries }, (_, i) => [`E${i}`, value]))
const environmentsOf = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `env_${i}`, slug: `s${i}`, kind: "preview" }))

/** The outcome in one line, as a test failure should show it. */
const outcome = (data: string): string => {
  const verdict = triage(subject, data)
  switch (verdict._tag) {
    case "Valid":
      return "accepted"
    case "Reject":
      return `rejected ${verdict.code} (${verdict.reason}): ${verdict.message}`
    case "DeadLetter":
      return `dead-lettered (${verdict.reason}): ${verdict.message}`
  }
}

interface Case {
  readonly name: string
  readonly command: unknown
  /** "accepted", or a fragment of the rejection line. */
  readonly then: string
}

const fieldCases: ReadonlyArray<Case> = [
  { name: "image at 512 characters", command: deploy({ source: { image: "i".repeat(512) } }), then: "accepted" },
  {
    name: "image at 513 characters",
    command: deploy({ source: { image: "i".repeat(513) } }),
    then: "rejected invalid_input (invalid): source.image: at most 512 characters (got 513)"
  },
  { name: "64 arguments", command: deploy({ source: { command: Array(64).fill("a") } }), then: "accepted" },
  {
    name: "65 arguments",
    command: deploy({ source: { command: Array(65).fill("a") } }),
    then: "source.command: at most 64 arguments (got 65)"
  },
  { name: "an argument of 4096 bytes", command: deploy({ source: { command: ["node", "a".repeat(4096)] } }), then: "accepted" },
  {
    name: "an argument of 4097 bytes",
    command: deploy({ source: { command: ["node", "a".repeat(4097)] } }),
    then: "source.command: argument 1 is at most 4 KiB (4096 bytes) (got 4097 bytes)"
  },
  { name: "an argument of 4096 UTF-8 bytes (2048 × é)", command: deploy({ source: { command: ["é".repeat(2048)] } }), then: "accepted" },
  {
    name: "an argument of 4098 UTF-8 bytes (2049 × é)",
    command: deploy({ source: { command: ["é".repeat(2049)] } }),
    then: "source.command: argument 0 is at most 4 KiB (4096 bytes) (got 4098 bytes)"
  },
  { name: "256 env entries", command: deploy({ env: envOf(256) }), then: "accepted" },
  { name: "257 env entries", command: deploy({ env: envOf(257) }), then: "env: at most 256 entries (got 257)" },
  { name: "20000 env entries", command: deploy({ env: envOf(20_000) }), then: "env: at most 256 entries (got 20000)" },
  { name: "an env name of 128 characters", command: deploy({ env: { ["K".repeat(128)]: "v" } }), then: "accepted" },
  {
    name: "an env name of 129 characters",
    command: deploy({ env: { ["K".repeat(129)]: "v" } }),
    then: `env: name "${"K".repeat(32)}…" is at most 128 characters (got 129)`
  },
  { name: "an env name that is not a variable name", command: deploy({ env: { GOOD: "1", "bad-name": "2" } }), then: `env: name "bad-name" is not a variable name (letters, digits and _, not starting with a digit)` },
  { name: "an env name starting with a digit", command: deploy({ env: { "1X": "v" } }), then: `env: name "1X" is not a variable name (letters, digits and _, not starting with a digit)` },
  { name: "an env name ending in a character a name cannot have", command: deploy({ env: { "NAME!": "v" } }), then: `env: name "NAME!" is not a variable name` },
  { name: "env names of every allowed kind", command: deploy({ env: { _PRIVATE: "1", lower_case: "2", MixedCase9: "3", x: "4", Z_0: "5" } }), then: "accepted" },
  // A bad name is quoted whole up to 32 characters, cut after that.
  { name: "a bad env name of 32 characters", command: deploy({ env: { [`1${"A".repeat(31)}`]: "v" } }), then: `env: name "1${"A".repeat(31)}" is not` },
  { name: "a bad env name of 33 characters", command: deploy({ env: { [`1${"A".repeat(32)}`]: "v" } }), then: `env: name "1${"A".repeat(31)}…" is not` },
  { name: "env names and values of 65536 bytes", command: deploy({ env: { A: "v".repeat(65_535) } }), then: "accepted" },
  {
    name: "env names and values of 65537 bytes",
    command: deploy({ env: { A: "v".repeat(65_535), B: "" } }),
    then: "env: names and values together are at most 64 KiB (65536 bytes) (got 65537 bytes)"
  },
  { name: "16 environments", command: createProject({ environments: environmentsOf(16) }), then: "accepted" },
  {
    name: "17 environments",
    command: createProject({ environments: environmentsOf(17) }),
    then: "environments: at most 16 environments (got 17)"
  },
  { name: "defaultBranch of 255 characters", command: createProject({ defaultBranch: "b".repeat(255) }), then: "accepted" },
  {
    name: "defaultBranch of 256 characters",
    command: createProject({ defaultBranch: "b".repeat(256) }),
    then: "defaultBranch: at most 255 characters (got 256)"
  },
  { name: "openApiPath of 1024 characters", command: createProject({ openApiPath: `/${"p".repeat(1023)}` }), then: "accepted" },
  {
    name: "openApiPath of 1025 characters",
    command: createProject({ openApiPath: `/${"p".repeat(1024)}` }),
    then: "openApiPath: at most 1024 characters (got 1025)"
  },
  { name: "git.branch of 255 characters", command: deploy({ git: { sha: "abcdef0", branch: "b".repeat(255) } }), then: "accepted" },
  {
    name: "git.branch of 256 characters",
    command: deploy({ git: { sha: "abcdef0", branch: "b".repeat(256) } }),
    then: "git.branch: at most 255 characters (got 256)"
  },
  // Longer messages are trimmed by the decider (deploy.unit.test.ts), as before: never refused.
  { name: "a commit message of 20000 characters", command: deploy({ git: { sha: "abcdef0", message: "m".repeat(20_000) } }), then: "accepted" },
  {
    name: "an unknown type of 64 characters is answered",
    command: { type: "T".repeat(64), commandId: "cmd_1", projectId: "proj_1" },
    then: "rejected unknown_command"
  },
  {
    name: "a type of 65 characters is not a command",
    command: { type: "T".repeat(65), commandId: "cmd_1", projectId: "proj_1" },
    then: "dead-lettered (invalid): not a command: type: at most 64 characters (got 65)"
  }
]

describe("field limits", () => {
  it.each(fieldCases)("$name", ({ command, then }) => {
    const line = outcome(JSON.stringify(command))
    if (then === "accepted") expect(line).toBe("accepted")
    else expect(line).toContain(then)
  })
})

describe("a limit's problem, named by the field it is about (krane-local's CreateDeployment)", () => {
  it("names the field in front of the problem, and is silent within the limit", () => {
    expect(namedIssue("deployment.env", checkEnv({ "1X": "v" }))).toBe(
      'deployment.env: name "1X" is not a variable name (letters, digits and _, not starting with a digit)'
    )
    expect(namedIssue("deployment.env", checkEnv({ A: "v" }))).toBeUndefined()
  })
})

describe("UTF-8 sizes (what the stream and the intake count)", () => {
  // Every boundary of the encoding, and the surrogates: a pair is one 4-byte character, a lone one
  // is written as U+FFFD (3 bytes), as Buffer.byteLength and TextEncoder count them.
  it.each([
    ["empty", ""],
    ["ASCII", "abc"],
    ["the last 1-byte character", "\u007f"],
    ["the first 2-byte character", "\u0080"],
    ["é", "é"],
    ["the last 2-byte character", "\u07ff"],
    ["the first 3-byte character", "\u0800"],
    ["€", "€"],
    ["just below the surrogates", "\ud7ff"],
    ["just above the surrogates", "\ue000"],
    ["the last 3-byte character", "\uffff"],
    ["an emoji (a surrogate pair)", "😀"],
    ["the first pair", "\ud800\udc00"],
    ["the last pair", "\udbff\udfff"],
    ["a high surrogate, then the last low one", "\ud800\udfff"],
    ["a lone high surrogate at the end", "a\ud83d"],
    ["a lone high surrogate before a letter", "\ud83da"],
    ["a high surrogate before another high one", "\ud83d\ud83d"],
    ["a lone low surrogate", "\ude00"],
    ["a pair in the wrong order", "\ude00\ud83d"],
    ["a high surrogate before a character just past the low ones", "\udbff\ue000"],
    ["a 3-byte character below the surrogates, then a lone low one", "€\udc00"],
    ["a lone low surrogate, then another", "\udc00\udc00"],
    ["a 3-byte character above the surrogates, then a lone low one", "\ue000\udc00"],
    ["mixed", "a é € 😀 \ud83d"]
  ])("%s", (_, text) => {
    expect(utf8Bytes(text)).toBe(Buffer.byteLength(text, "utf8"))
  })
})

/** A Deploy whose raw JSON is exactly `bytes` long (padded with spaces, which JSON allows). */
const rawDeployOf = (bytes: number, extra: Record<string, unknown> = {}): string => {
  const json = JSON.stringify(deploy({ source: { command: Array(63).fill("a".repeat(4096)) }, ...extra }))
  if (json.length > bytes) throw new Error(`the base command is already ${json.length} bytes`)
  return `${json.slice(0, -1)}${" ".repeat(bytes - json.length)}}`
}

describe("whole command size (raw bytes, before JSON.parse)", () => {
  it("a command of exactly 256 KiB is accepted", () => {
    const raw = rawDeployOf(limits.commandBytes)
    expect(Buffer.byteLength(raw)).toBe(262_144)
    expect(outcome(raw)).toBe("accepted")
  })

  it("one byte more is rejected as oversized, naming the size, with the header read from the raw text", () => {
    expect(outcome(rawDeployOf(limits.commandBytes + 1))).toBe(
      "rejected invalid_input (oversized): a command is at most 256 KiB (262144 bytes) of JSON (got 262145 bytes)"
    )
  })

  it("sizes count UTF-8 bytes, not characters", () => {
    // 2 bytes per é: 131,100 characters are 262,200 bytes.
    const raw = JSON.stringify(deploy({ git: { sha: "abcdef0", message: "é".repeat(131_000) } }))
    expect(raw.length).toBeLessThan(limits.commandBytes)
    expect(outcome(raw)).toMatch(/^rejected invalid_input \(oversized\): .*\(got 262\d{3} bytes\)$/)
  })

  it("the header is the top-level one: look-alikes inside values and nested objects do not count", () => {
    const raw = JSON.stringify({
      env: { X: '{"commandId":"cmd_fake","projectId":"proj_1"}' },
      nested: { commandId: "cmd_nested", projectId: "proj_1", type: "Deploy" },
      ...deploy({ commandId: "cmd_real", git: { sha: "abcdef0", message: "m".repeat(limits.commandBytes) } })
    })
    const verdict = triage(subject, raw)
    expect(verdict._tag === "Reject" ? verdict.header : verdict).toEqual({ type: "Deploy", commandId: "cmd_real", projectId: "proj_1" })
  })

  it.each([
    { name: "no header", raw: `{"padding":"${"x".repeat(limits.commandBytes)}"}` },
    { name: "not JSON at all", raw: "x".repeat(limits.commandBytes + 1) },
    { name: "a header for another project", raw: rawDeployOf(limits.commandBytes + 1, { projectId: "proj_2" }) }
  ])("an oversized message with $name is dead-lettered only", ({ raw }) => {
    expect(outcome(raw)).toBe("dead-lettered (oversized): a command is at most 256 KiB (262144 bytes) of JSON (got " + Buffer.byteLength(raw) + " bytes)")
  })
})

describe("the Command schema bounds the command as Berth publishes it", () => {
  const decode = Schema.decodeUnknownEither(Command)
  it.each([
    { name: "at 256 KiB", bytes: limits.commandBytes, ok: true },
    { name: "one byte over", bytes: limits.commandBytes + 1, ok: false }
  ])("$name", ({ bytes, ok }) => {
    const base = deploy({ source: { command: Array(63).fill("a".repeat(4096)) }, git: { sha: "abcdef0", message: "" } })
    const message = "m".repeat(bytes - Buffer.byteLength(JSON.stringify(base)))
    const command = deploy({ source: { command: Array(63).fill("a".repeat(4096)) }, git: { sha: "abcdef0", message } })
    expect(Buffer.byteLength(JSON.stringify(command))).toBe(bytes)
    const decoded = decode(command)
    const messages = Either.isRight(decoded) ? "ok" : ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) => issue.message).join("; ")
    expect(messages).toBe(
      ok ? "ok" : `a command is at most 256 KiB (262144 bytes) of JSON (got ${bytes} bytes)`
    )
  })
})
