import { describe, expect, it } from "vitest"
import { kraneLocalEnv } from "../../src/local/kraneLocalEnv.js"

describe("krane-local's environment", () => {
  it.each([
    ["BERTH_SECRETS_KEY", false],
    ["BERTH_ADMIN_TOKEN", false],
    ["BERTH_ACTOR_KEY", false],
    ["NATS_URL", false],
    ["NATS_PASSWORD", false],
    ["DATABASE_URL", false],
    ["PGPASSWORD", false],
    ["KRANE_URL", false],
    ["KRANE_TOKEN", false],
    ["KRANE_LOCAL_RUN_AS", true],
    ["KRANE_LOCAL_INSECURE", true],
    ["PATH", true],
    ["HOME", true],
    ["MY_BERTH_NOTE", true]
  ])("%s is kept: %s", (name, kept) => {
    expect(name in kraneLocalEnv({ [name]: "value" })).toBe(kept)
  })

  it("drops unset variables", () => {
    expect(kraneLocalEnv({ PATH: undefined })).toEqual({})
  })
})
