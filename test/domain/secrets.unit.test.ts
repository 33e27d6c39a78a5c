import { describe, expect, it } from "vitest"
import { Deploy } from "../../src/domain/commands.js"
import { checkEnv } from "../../src/domain/limits.js"
import {
  displayEnv,
  displayPayload,
  displaySealedIn,
  displayValue,
  formatSealed,
  isKeyId,
  looksSealed,
  parseSealed,
  sealedCleartextBytes
} from "../../src/domain/secrets.js"
import { Schema, Either } from "effect"

/** base64url of `n` bytes (the payload's content does not matter to the format). */
const payloadOf = (bytes: number) => Buffer.alloc(bytes, 7).toString("base64url")
const valid = `sealed:v1:k1:0123456789ab:${payloadOf(12 + 5 + 16)}`

describe("parseSealed", () => {
  it.each([
    { name: "a well-formed value", value: valid, then: { kid: "k1", fingerprint: "0123456789ab", cleartextBytes: 5 } },
    { name: "an empty cleartext (iv and tag only)", value: `sealed:v1:k-2_x:ffffffffffff:${payloadOf(28)}`, then: { kid: "k-2_x", fingerprint: "ffffffffffff", cleartextBytes: 0 } },
    { name: "a cleartext", value: "hunter2", then: undefined },
    { name: "another version", value: `sealed:v2:k1:0123456789ab:${payloadOf(40)}`, then: undefined },
    { name: "an upper-case fingerprint", value: `sealed:v1:k1:0123456789AB:${payloadOf(40)}`, then: undefined },
    { name: "a short fingerprint", value: `sealed:v1:k1:0123456789a:${payloadOf(40)}`, then: undefined },
    { name: "a key id with a dot", value: `sealed:v1:k.1:0123456789ab:${payloadOf(40)}`, then: undefined },
    { name: "a key id of 33 characters", value: `sealed:v1:${"k".repeat(33)}:0123456789ab:${payloadOf(40)}`, then: undefined },
    { name: "a payload too short for iv and tag", value: `sealed:v1:k1:0123456789ab:${payloadOf(27)}`, then: undefined },
    { name: "a payload that is not base64url", value: `sealed:v1:k1:0123456789ab:${payloadOf(40)}+/`, then: undefined },
    { name: "an extra part", value: `${valid}:more`, then: undefined },
    { name: "a missing payload", value: "sealed:v1:k1:0123456789ab", then: undefined }
  ])("$name", ({ value, then }) => {
    const parsed = parseSealed(value)
    expect(parsed === undefined ? undefined : { kid: parsed.kid, fingerprint: parsed.fingerprint, cleartextBytes: sealedCleartextBytes(parsed) }).toEqual(then)
    if (parsed !== undefined) expect(formatSealed(parsed)).toBe(value)
  })
})

describe("key ids and values that look sealed", () => {
  it.each([
    { kid: "k1", ok: true },
    { kid: "2026-12_key", ok: true },
    { kid: "k".repeat(32), ok: true },
    { kid: "k".repeat(33), ok: false },
    { kid: "", ok: false },
    { kid: "k.1", ok: false },
    { kid: "k:1", ok: false },
    { kid: "key 1", ok: false }
  ])("key id '$kid' -> $ok", ({ kid, ok }) => {
    expect(isKeyId(kid)).toBe(ok)
  })

  it.each([
    // A damaged sealed value still looks sealed: it is refused, never taken for a cleartext.
    { value: "sealed:v1:broken", looks: true },
    { value: valid, looks: true },
    { value: "hunter2", looks: false },
    { value: "my sealed:v1:x", looks: false },
    { value: "sealed:v2:k1:0123456789ab:AAAA", looks: false }
  ])("'$value' looks sealed: $looks", ({ value, looks }) => {
    expect(looksSealed(value)).toBe(looks)
  })
})

describe("displayValue", () => {
  it.each([
    { value: valid, shown: "sealed(0123456789ab)" },
    { value: "hunter2", shown: "redacted" },
    { value: "", shown: "redacted" },
    { value: "sealed:v1:broken", shown: "redacted" },
    // Already shown: stays as it is (a row shown twice does not turn into "redacted").
    { value: "sealed(0123456789ab)", shown: "sealed(0123456789ab)" },
    { value: "redacted", shown: "redacted" },
    // Only exactly that form counts as already shown.
    { value: "sealed(0123456789AB)", shown: "redacted" },
    { value: "sealed(0123456789a)", shown: "redacted" },
    { value: "my sealed(0123456789ab)", shown: "redacted" },
    { value: "sealed(0123456789ab) and more", shown: "redacted" }
  ])("$value is shown as $shown", ({ value, shown }) => {
    expect(displayValue(value)).toBe(shown)
  })

  it("keeps the keys of an env and hides every value", () => {
    expect(displayEnv({ DB_PASSWORD: valid, LEGACY: "cleartext" })).toEqual({ DB_PASSWORD: "sealed(0123456789ab)", LEGACY: "redacted" })
  })
})

describe("env limits count a sealed value's cleartext", () => {
  /** A sealed value of `n` cleartext bytes is about 4/3 n + 60 characters long. */
  const sealedOf = (n: number) => `sealed:v1:k1:0123456789ab:${payloadOf(12 + n + 16)}`
  it.each([
    { name: "64 KiB of cleartext, sealed", env: { A: sealedOf(65_535) }, then: undefined },
    { name: "one byte more, sealed", env: { A: sealedOf(65_536) }, then: "names and values together are at most 64 KiB (65536 bytes) (got 65537 bytes)" },
    { name: "256 sealed values", env: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`V${i}`, sealedOf(200)])), then: undefined }
  ])("$name", ({ env, then }) => {
    expect(checkEnv(env)).toBe(then)
  })

  it("a Deploy whose env is 64 KiB sealed still fits the 256 KiB command limit", () => {
    const command = {
      type: "Deploy",
      commandId: "cmd_1",
      projectId: "proj_1",
      deploymentId: "dep_1",
      environmentId: "env_1",
      source: { image: "x" },
      env: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`V${String(i).padStart(3, "0")}`, sealedOf(252)]))
    }
    expect(Either.isRight(Schema.decodeUnknownEither(Deploy)(command))).toBe(true)
  })
})

describe("displayPayload (events and rows read back from storage)", () => {
  it.each([
    { name: "an event without env", payload: { type: "DeploymentReady", deploymentId: "dep_1" }, shown: { type: "DeploymentReady", deploymentId: "dep_1" } },
    { name: "sealed values", payload: { type: "DeploymentRequested", env: { A: valid } }, shown: { type: "DeploymentRequested", env: { A: "sealed(0123456789ab)" } } },
    { name: "a row logged before sealing", payload: { env: { A: "hunter2", B: 42 } }, shown: { env: { A: "redacted", B: "redacted" } } },
    { name: "values already shown", payload: { env: { A: "sealed(0123456789ab)", B: "redacted" } }, shown: { env: { A: "sealed(0123456789ab)", B: "redacted" } } },
    { name: "an env that is not an object", payload: { env: "hunter2" }, shown: { env: "redacted" } },
    { name: "not an object", payload: "text", shown: "text" }
  ])("$name", ({ payload, shown }) => {
    expect(displayPayload(payload)).toEqual(shown)
  })
})

describe("displaySealedIn (raw text kept for an audit)", () => {
  it("shows every sealed value in a text as its fingerprint", () => {
    expect(displaySealedIn(`{"env":{"A":"${valid}","B":"${valid}"},"x":"sealed:v1:broken"}`)).toBe(
      `{"env":{"A":"sealed(0123456789ab)","B":"sealed(0123456789ab)"},"x":"sealed:v1:broken"}`
    )
  })
})
