/**
 * One secrets key per test process: every orchestrator and API a test file starts seals and opens
 * with it, like the roles of one Berth sharing BERTH_SECRETS_KEY.
 */
import { randomBytes } from "node:crypto"
import { SecretsLive } from "../../src/secrets/Secrets.js"

export const testSecretsKeys = `t1:${randomBytes(32).toString("base64")}`
export const testSecrets = SecretsLive.fromKeys(testSecretsKeys)
