/**
 * One secrets key per test process: every orchestrator and API a test file starts seals and opens
 * with it, like the roles of one Berth sharing BERTH_SECRETS_KEY.
 */
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import { secretsFromKeys, SecretsLive } from "../../src/secrets/Secrets.js"

export const testSecretsKeys = `t1:${randomBytes(32).toString("base64")}`
export const testSecrets = SecretsLive.fromKeys(testSecretsKeys)

/** A Deploy env as published by the API: every value sealed under the test key (kid t1). */
export const sealedWithTestKey = /^sealed:v1:t1:[0-9a-f]{12}:[A-Za-z0-9_-]+$/

/** The cleartext of a value sealed with the test key for `projectId`. */
export const openWithTestKey = (projectId: string, sealed: string): Promise<string> =>
  Effect.runPromise(Effect.flatMap(secretsFromKeys(testSecretsKeys), (secrets) => secrets.open(projectId, sealed)))
