import { describe, expect, it } from "vitest"
import { keptPayload } from "../../src/actors/cleartext.js"
import { triage } from "../../src/actors/CommandIntake.js"

const sealed = `sealed:v1:k1:0123456789ab:${Buffer.alloc(33, 1).toString("base64url")}`

describe("what the intake keeps of a raw command (BERTH_DLQ copy, BERTH_COMMANDS after settling)", () => {
  it.each([
    { name: "a command without env", data: `{"type":"Promote","commandId":"cmd_1"}`, kind: "original", payload: undefined },
    { name: "a Deploy whose env is sealed", data: JSON.stringify({ type: "Deploy", env: { A: sealed } }), kind: "original", payload: undefined },
    {
      name: "a Deploy with a cleartext value",
      data: JSON.stringify({ type: "Deploy", env: { A: sealed, DB_PASSWORD: "hunter2" } }),
      kind: "redacted",
      payload: { type: "Deploy", env: { A: "sealed(0123456789ab)", DB_PASSWORD: "redacted" } }
    },
    {
      name: "an env value that is not a string",
      data: JSON.stringify({ type: "Deploy", env: { PIN: 1234 } }),
      kind: "redacted",
      payload: { type: "Deploy", env: { PIN: "redacted" } }
    },
    { name: "an env that is not an object", data: JSON.stringify({ type: "Deploy", env: ["hunter2"] }), kind: "redacted", payload: { type: "Deploy", env: "redacted" } },
    { name: "broken JSON mentioning env", data: `{"type":"Deploy","env":{"DB_PASSWORD":"hunter2"`, kind: "withheld", payload: "" },
    { name: "broken JSON without env", data: `{"type":"Deploy"`, kind: "original", payload: undefined },
    {
      name: "an env whose redaction would not fit a dead letter: keys dropped too",
      data: JSON.stringify({ type: "Deploy", commandId: "cmd_1", env: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`E${i}`, ""])) }),
      kind: "redacted",
      payload: { type: "Deploy", commandId: "cmd_1", env: "withheld" }
    }
  ])("$name: $kind", ({ data, kind, payload }) => {
    const kept = keptPayload(data)
    expect(kept.kind).toBe(kind)
    expect(kept.payload).not.toContain("hunter2")
    if (payload === undefined) expect(kept.payload).toBe(data)
    else expect(typeof payload === "string" ? kept.payload : JSON.parse(kept.payload)).toEqual(payload)
  })
})

describe("the intake's reasons never quote an env value", () => {
  it.each([
    { name: "broken JSON around a value", data: `{"type":"Deploy","env":{"A":hunter2secret}}`, reason: "not JSON: Unexpected token 'h' (not valid JSON)" },
    { name: "a bare value", data: "hunter2secret", reason: "not JSON: Unexpected token 'h' (not valid JSON)" },
    {
      name: "an env value that is not a string",
      data: JSON.stringify({
        type: "Deploy", commandId: "cmd_1", projectId: "proj_1", deploymentId: "dep_1", environmentId: "env_1",
        source: { image: "x" }, env: { PIN: 98765432 }
      }),
      reason: "env.PIN: Expected string"
    }
  ])("$name", ({ data, reason }) => {
    const verdict = triage("berth.cmd.proj_1", data)
    const said = verdict._tag === "Valid" ? "valid" : verdict.message
    expect(said).toBe(reason)
    expect(said).not.toMatch(/hunter2|98765432/)
  })
})
