/**
 * `berth secrets seal` and `berth secrets rotate` as a platform team runs them: against the keys file
 * `npm start` created in the data dir, or BERTH_SECRETS_KEY. No servers: both work on local keys only.
 */
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import { parseSealed } from "../../src/domain/secrets.js"
import { keysFilePath, readKeysFile } from "../../src/secrets/keysFile.js"
import { loadSecrets, secretsFromKeys } from "../../src/secrets/Secrets.js"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

const berth = (args: ReadonlyArray<string>, env: Record<string, string>, stdin = "") =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(join(projectRoot, "node_modules/.bin/tsx"), ["src/cli/berth.ts", ...args], {
      cwd: projectRoot,
      env: { ...process.env, BERTH_SECRETS_KEY: "", ...env },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdin.end(stdin)
    child.once("close", (code) => resolve({ code, stdout, stderr }))
  })

describe("berth secrets", () => {
  it("seals a value from stdin with the data dir's keys, rotates them, and keeps old values opening", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "berth-cli-secrets-"))
    const missing = await berth(["secrets", "seal", "proj_cli"], { BERTH_DATA_DIR: dataDir }, "x")
    expect(missing).toMatchObject({ code: 1, stdout: "" })
    expect(missing.stderr).toBe(`berth: no secrets keys at ${keysFilePath(dataDir)}: start Berth once (npm start) to create them, set BERTH_DATA_DIR, or set BERTH_SECRETS_KEY\n`)

    await Effect.runPromise(readKeysFile(keysFilePath(dataDir))) // what npm start does
    const sealed = await berth(["secrets", "seal", "proj_cli"], { BERTH_DATA_DIR: dataDir }, "hunter2\n")
    expect(sealed.code).toBe(0)
    const value = sealed.stdout.trim()
    expect(parseSealed(value)?.kid).toBe("k1")
    expect(sealed.stdout + sealed.stderr).not.toContain("hunter2")
    expect(sealed.stderr).toMatch(/^sealed for proj_cli \(sealed\([0-9a-f]{12}\), key k1\)\n$/)

    const rotated = await berth(["secrets", "rotate"], { BERTH_DATA_DIR: dataDir })
    expect(rotated).toMatchObject({ code: 0, stderr: "" })
    expect(rotated.stdout).toBe(
      "secrets key k2 is now current; kept for opening existing values: k1\nRunning roles seal with it from their next deployment on; nothing needs a restart.\n"
    )
    expect(statSync(keysFilePath(dataDir)).mode & 0o777).toBe(0o600)
    expect(readFileSync(keysFilePath(dataDir), "utf8")).not.toContain("hunter2")

    const secrets = await Effect.runPromise(loadSecrets({ key: Option.none(), dataDir }))
    expect(await Effect.runPromise(secrets.open("proj_cli", value))).toBe("hunter2")
    const afterRotation = await berth(["secrets", "seal", "proj_cli"], { BERTH_DATA_DIR: dataDir }, "second")
    expect(parseSealed(afterRotation.stdout.trim())?.kid).toBe("k2")
    expect(await Effect.runPromise(secrets.open("proj_cli", afterRotation.stdout.trim()))).toBe("second")
  })

  it("uses BERTH_SECRETS_KEY when set, and then leaves rotation to whoever sets it", async () => {
    const key = `ops7:${randomBytes(32).toString("base64")}`
    const sealed = await berth(["secrets", "seal", "proj_env"], { BERTH_SECRETS_KEY: key, BERTH_DATA_DIR: "/nonexistent" }, "from-env")
    expect(sealed.code).toBe(0)
    expect(await Effect.runPromise(Effect.flatMap(secretsFromKeys(key), (s) => s.open("proj_env", sealed.stdout.trim())))).toBe("from-env")
    const rotate = await berth(["secrets", "rotate"], { BERTH_SECRETS_KEY: key })
    expect(rotate).toMatchObject({ code: 1, stdout: "" })
    expect(rotate.stderr).toBe(
      "berth: BERTH_SECRETS_KEY is set: put a new <kid>:<base64 key> first in it (keep the old keys after it) and restart the orchestrator, then the API\n"
    )
    const bad = await berth(["secrets", "seal", "proj_env"], { BERTH_SECRETS_KEY: `k1:${key.slice(5)}x` }, "x")
    expect(bad.code).toBe(1)
    expect(bad.stderr).not.toContain(key.slice(5))
  })
})
