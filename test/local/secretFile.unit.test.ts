import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { readOrCreateSecretFile } from "../../src/local/secretFile.js"

describe("readOrCreateSecretFile", () => {
  it("generates an owner-only secret once and reads the same one back", () => {
    const path = join(mkdtempSync(join(tmpdir(), "berth-secret-")), "sub", "token")
    const first = Effect.runSync(readOrCreateSecretFile(path))
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(statSync(join(path, "..")).mode & 0o777).toBe(0o700)
    expect(Effect.runSync(readOrCreateSecretFile(path))).toBe(first)
  })

  it("tightens a file others can read, and refuses an empty one", () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-secret-"))
    const loose = join(dir, "loose")
    writeFileSync(loose, "s3cret\n", { mode: 0o644 })
    expect(Effect.runSync(readOrCreateSecretFile(loose))).toBe("s3cret")
    expect(statSync(loose).mode & 0o777).toBe(0o600)
    const empty = join(dir, "empty")
    writeFileSync(empty, "", { mode: 0o600 })
    const result = Effect.runSync(Effect.either(readOrCreateSecretFile(empty)))
    expect(Either.isLeft(result) && result.left.message).toContain("is empty")
    expect(readFileSync(loose, "utf8")).toBe("s3cret\n")
  })
})
