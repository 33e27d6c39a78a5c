/**
 * The CLI's pure parts: tables, durations, command-line splitting and argv parsing.
 */
import { describe, expect, it } from "vitest"
import { CliError, parseArgs } from "../../src/cli/command.js"
import { describeEvent } from "../../src/cli/eventText.js"
import { duration, parseDuration, splitCommandLine, table } from "../../src/cli/format.js"

describe("table", () => {
  it("aligns columns under a header and trims trailing spaces", () => {
    expect(table([["dep_1", "●", "ready"], ["dep_long_id", "", "failed"]], { header: ["ID", "LIVE", "STATUS"] })).toEqual([
      "ID           LIVE  STATUS",
      "dep_1        ●     ready",
      "dep_long_id        failed"
    ])
    expect(table([["a", "1.00s"], ["bb", "12.5s"]], { align: ["left", "right"], indent: "  " })).toEqual(["  a   1.00s", "  bb  12.5s"])
    expect(table([])).toEqual([])
  })
})

describe("durations", () => {
  it("formats by magnitude", () => {
    expect([60, 9_994, 12_340, 65_000, 7_380_000, 3 * 86_400_000 + 4 * 3_600_000].map(duration)).toEqual([
      "0.06s", "9.99s", "12.3s", "1m 05s", "2h 03m", "3d 04h"
    ])
  })

  it("parses --timeout values", () => {
    expect(["500ms", "30s", "10m", "1h", "5 minutes", "45", "1.5m"].map(parseDuration)).toEqual([500, 30_000, 600_000, 3_600_000, 300_000, 45_000, 90_000])
    expect(["", "ten", "5 fortnights", "-1s"].map(parseDuration)).toEqual([undefined, undefined, undefined, undefined])
  })
})

describe("splitCommandLine", () => {
  it("splits like a shell without expanding anything", () => {
    expect(splitCommandLine(`node server.js`)).toEqual(["node", "server.js"])
    expect(splitCommandLine(`  node  'my server.js' --name="a \\"b\\"" x\\ y $HOME ''`)).toEqual(["node", "my server.js", `--name=a "b"`, "x y", "$HOME", ""])
    expect(splitCommandLine(`node 'open`)).toBeUndefined()
  })
})

describe("parseArgs", () => {
  const specs = {
    env: { kind: "string", description: "" },
    set: { kind: "list", description: "" },
    wait: { kind: "boolean", description: "" },
    help: { kind: "boolean", short: "h", description: "" }
  } as const

  it("reads positionals, --name value, --name=value, lists, booleans, -h and -- rest", () => {
    const parsed = parseArgs("deploy", specs, ["proj", "--env", "e1", "--set=A=1", "--set", "B=2", "--wait", "-h", "--", "node", "--env", "x"], true)
    expect(parsed).toEqual({
      positionals: ["proj"],
      rest: ["node", "--env", "x"],
      options: { env: "e1", set: ["A=1", "B=2"], wait: true, help: true }
    })
    expect(parseArgs("deploy", specs, ["--env", "--wait"], false).options).toEqual({ env: "--wait" })
  })

  it("refuses what the command does not declare", () => {
    const error = (argv: ReadonlyArray<string>, rest = false) => {
      try {
        parseArgs("deploy", specs, argv, rest)
      } catch (e) {
        return e instanceof CliError ? e.message : String(e)
      }
      return "no error"
    }
    expect(error(["--nope"])).toBe("unknown option --nope (see: berth deploy --help)")
    expect(error(["--nope=1"])).toBe("unknown option --nope (see: berth deploy --help)")
    expect(error(["--env"])).toBe("option --env needs a value (see: berth deploy --help)")
    expect(error(["--env", "a", "--env", "b"])).toBe("option --env given twice (see: berth deploy --help)")
    expect(error(["--wait=yes"])).toBe("option --wait takes no value (see: berth deploy --help)")
    expect(error(["--", "x"])).toBe("unexpected `--` (see: berth deploy --help)")
  })
})

describe("describeEvent", () => {
  it("tolerates payloads it does not know", () => {
    expect(describeEvent("Undecodable", { type: "Undecodable", raw: "x", n: 1 })).toBe("raw=x n=1")
    expect(describeEvent("LiveSwitched", null)).toBe("- -> - (-)")
  })
})
