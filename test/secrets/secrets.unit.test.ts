import { mkdtempSync, readFileSync, statSync } from "node:fs"
import { randomBytes } from "node:crypto"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import { displayValue, parseSealed } from "../../src/domain/secrets.js"
import { parseKeyring } from "../../src/secrets/keyring.js"
import { keysFilePath, rotateKeysFile } from "../../src/secrets/keysFile.js"
import { loadSecrets, secretsFromKeys } from "../../src/secrets/Secrets.js"

const p1 = "proj_1"
const keyText = (kid: string) => `${kid}:${randomBytes(32).toString("base64")}`
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runSync(effect)
const failure = <A, E extends { message: string }>(effect: Effect.Effect<A, E>) => {
  const result = Effect.runSync(Effect.either(effect))
  return Either.isLeft(result) ? result.left.message : `succeeded: ${String(result.right)}`
}

describe("seal and open", () => {
  const secrets = run(secretsFromKeys(keyText("k1")))

  it.each(["hunter2", "", "ünïcødé ✓ 🚀", "x".repeat(65_536), "a:b:c sealed:v1:"])("round-trips %j, and the sealed text never contains it", (value) => {
    const sealed = run(secrets.seal(p1, value))
    expect(parseSealed(sealed)?.kid).toBe("k1")
    if (value.length > 3) expect(sealed).not.toContain(value)
    expect(run(secrets.open(p1, sealed))).toBe(value)
  })

  it("seals the same value differently each time, with the same fingerprint", () => {
    const a = run(secrets.seal(p1, "hunter2"))
    const b = run(secrets.seal(p1, "hunter2"))
    expect(a).not.toBe(b)
    expect(displayValue(a)).toBe(displayValue(b))
    expect(displayValue(run(secrets.seal(p1, "hunter3")))).not.toBe(displayValue(a))
  })

  it("fingerprints are keyed: another key gives another fingerprint for the same value", () => {
    const other = run(secretsFromKeys(keyText("k1")))
    expect(displayValue(run(other.seal(p1, "hunter2")))).not.toBe(displayValue(run(secrets.seal(p1, "hunter2"))))
  })

  it("sealEnv seals cleartext, keeps values already sealed, and refuses what does not open", () => {
    const already = run(secrets.seal(p1, "kept"))
    const env = run(secrets.sealEnv(p1, { PLAIN: "hunter2", ALREADY: already }))
    expect(env["ALREADY"]).toBe(already)
    expect(run(secrets.openEnv(p1, env))).toEqual({ PLAIN: "hunter2", ALREADY: "kept" })
    const foreign = run(run(secretsFromKeys(keyText("k9"))).seal(p1, "x"))
    expect(failure(secrets.sealEnv(p1, { FOREIGN: foreign }))).toBe(
      "env.FOREIGN: sealed with key id k9, which this Berth does not hold (BERTH_SECRETS_KEY or the secrets.keys file)"
    )
    const sameIdOtherKey = run(run(secretsFromKeys(keyText("k1"))).seal(p1, "x"))
    expect(failure(secrets.sealEnv(p1, { SWAPPED: sameIdOtherKey }))).toBe(
      "env.SWAPPED: does not open with key k1 (sealed for another project, damaged, or sealed by another key with the same id)"
    )
    expect(failure(secrets.sealEnv(p1, { BROKEN: "sealed:v1:k1:nothex" }))).toBe("env.BROKEN: starts with sealed:v1: but is not a well-formed sealed value")
  })

  it("a fingerprint cannot be moved onto another ciphertext", () => {
    const a = parseSealed(run(secrets.seal(p1, "aaaa")))
    const b = parseSealed(run(secrets.seal(p1, "bbbb")))
    if (a === undefined || b === undefined) throw new Error("not sealed")
    expect(failure(secrets.open(p1, `sealed:v1:k1:${b.fingerprint}:${a.payload}`))).toContain("does not open with key k1")
  })

  it("a value opens for the project it was sealed for only", () => {
    const sealed = run(secrets.seal(p1, "hunter2"))
    expect(failure(secrets.open("proj_2", sealed))).toBe("does not open with key k1 (sealed for another project, damaged, or sealed by another key with the same id)")
    expect(failure(secrets.sealEnv("proj_2", { DB_PASSWORD: sealed }))).toContain("env.DB_PASSWORD: does not open with key k1 (sealed for another project")
    expect(run(secrets.open(p1, sealed))).toBe("hunter2")
  })

  it("openEnv passes values logged before sealing existed through as they are", () => {
    expect(run(secrets.openEnv(p1, { OLD: "cleartext" }))).toEqual({ OLD: "cleartext" })
  })
})

describe("keyrings", () => {
  it.each([
    { keys: "", then: "no key given (expected <kid>:<base64 key>)" },
    { keys: "nokid", then: "key 1: expected <kid>:<base64 key> with a key id of letters, digits, _ or - (at most 32)" },
    { keys: `k1:${randomBytes(16).toString("base64")}`, then: "key 1 (k1): the key must be 32 bytes in base64 (e.g. openssl rand -base64 32)" },
    { keys: `${keyText("k1")},${keyText("k1")}`, then: "key 2: key id k1 appears twice" },
    { keys: `${keyText("k2")}, ${keyText("k1")}`, then: "current k2, holds k2 k1" },
    { keys: `${keyText("a")}\n# old:\n${keyText("b")}\n`, then: "current a, holds a b" }
  ])("$then", ({ keys, then }) => {
    const parsed = parseKeyring(keys)
    expect(Either.match(parsed, { onLeft: (m) => m, onRight: (k) => `current ${k.current.kid}, holds ${[...k.byId.keys()].join(" ")}` })).toBe(then)
  })

  it("an error about a bad key never repeats the key", () => {
    const secret = randomBytes(20).toString("base64")
    expect(JSON.stringify(parseKeyring(`k1:${secret}`))).not.toContain(secret)
  })

  it("a value sealed under an older key still opens after rotation; new values use the new key", () => {
    const old = keyText("k1")
    const before = run(secretsFromKeys(old))
    const sealed = run(before.seal(p1, "hunter2"))
    const after = run(secretsFromKeys(`${keyText("k2")},${old}`))
    expect(run(after.open(p1, sealed))).toBe("hunter2")
    expect(parseSealed(run(after.seal(p1, "x")))?.kid).toBe("k2")
  })
})

describe("the local keys file", () => {
  it("is generated owner-only on first use, rotated by putting a new key first, and re-read by a running service at once", () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "berth-secrets-")), "data")
    const path = keysFilePath(dataDir)
    const service = run(loadSecrets({ key: Option.none(), dataDir }))
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(run(service.currentKeyId)).toBe("k1")
    const sealedK1 = run(service.seal(p1, "first"))

    expect(run(rotateKeysFile(path))).toEqual({ current: "k2", kept: ["k1"] })
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readFileSync(path, "utf8").split("\n").filter(Boolean).map((line) => line.split(":")[0])).toEqual(["k2", "k1"])

    // A service started before the rotation seals with the new key at once, and still opens k1's values.
    const sealedK2 = run(service.seal(p1, "second"))
    expect(parseSealed(sealedK2)?.kid).toBe("k2")
    expect(run(service.open(p1, sealedK1))).toBe("first")
    // So does one started after it.
    const restarted = run(loadSecrets({ key: Option.none(), dataDir }))
    expect(run(restarted.currentKeyId)).toBe("k2")
    expect(run(restarted.open(p1, sealedK1))).toBe("first")
    expect(run(restarted.open(p1, sealedK2))).toBe("second")
  })
})
