/**
 * The API's security settings. The admin token is BERTH_ADMIN_TOKEN when set; otherwise the one in
 * `<dataDir>/admin-token`, generated (0600) on the first start. Origins allowed to call the API from
 * a browser: BERTH_ALLOWED_ORIGINS (comma-separated; default none, besides the API's own origin).
 * Host names the API answers to: BERTH_ALLOWED_HOSTS, else the listen host and the loopback names
 * (and, listening on every interface, this machine's name and addresses), so a DNS-rebinding page
 * (evil.example resolving to 127.0.0.1) is refused.
 */
import { hostname, networkInterfaces } from "node:os"
import { join } from "node:path"
import { Config, Effect, Option, Redacted } from "effect"
import { readOrCreateSecretFile } from "../local/secretFile.js"
import { resolveActorKey } from "./actor.js"
import { newAdminToken } from "./token.js"

export interface AuthSettings {
  readonly adminToken: Redacted.Redacted<string>
  /** Exact origins (`https://console.example.com`) allowed to send requests from a browser. */
  readonly allowedOrigins: ReadonlyArray<string>
  /** Host names (lower case, no port) a request's Host header may name. */
  readonly allowedHosts: ReadonlyArray<string>
  /** Signs the actor of every command the API publishes (src/auth/actor.ts). */
  readonly actorKey: Redacted.Redacted<string>
}

export const adminTokenFile = (dataDir: string): string => join(dataDir, "admin-token")

/** A short admin token is guessable: BERTH_ADMIN_TOKEN must be at least this long. */
export const minAdminTokenLength = 24

const list = (name: string) =>
  Config.string(name).pipe(
    Config.map((text) => text.split(",").map((part) => part.trim()).filter((part) => part !== "")),
    Config.option
  )

export const loopbackHosts: ReadonlyArray<string> = ["localhost", "127.0.0.1", "::1"]

/** What a Host header may name when BERTH_ALLOWED_HOSTS is not set. */
export const defaultAllowedHosts = (listenHost: string): ReadonlyArray<string> => {
  const everywhere = listenHost === "0.0.0.0" || listenHost === "::" || listenHost === ""
  const machine = everywhere
    ? [hostname(), ...Object.values(networkInterfaces()).flatMap((addresses) => (addresses ?? []).map((a) => a.address))]
    : [listenHost]
  return [...new Set([...loopbackHosts, ...machine].map((host) => host.toLowerCase()))]
}

export const adminTokenSetting = Config.redacted("BERTH_ADMIN_TOKEN").pipe(
  Config.validate({
    message: `BERTH_ADMIN_TOKEN must be at least ${minAdminTokenLength} characters`,
    validation: (token) => Redacted.value(token).trim().length >= minAdminTokenLength
  }),
  Config.option
)

/** The admin token: the setting, else the data dir's file (created on first use). */
export const resolveAdminToken = (dataDir: string) =>
  Effect.flatMap(adminTokenSetting, Option.match({
    onSome: (token) => Effect.succeed({ token: Redacted.make(Redacted.value(token).trim()), source: "BERTH_ADMIN_TOKEN" }),
    onNone: () => {
      const file = adminTokenFile(dataDir)
      return Effect.map(readOrCreateSecretFile(file, newAdminToken), (token) => ({ token: Redacted.make(token), source: file }))
    }
  }))

/** Every setting, for an API listening on `listenHost` with its data under `dataDir`. */
export const authSettings = (listenHost: string, dataDir: string) =>
  Effect.gen(function*() {
    const { token } = yield* resolveAdminToken(dataDir)
    const origins = yield* list("BERTH_ALLOWED_ORIGINS")
    const hosts = yield* list("BERTH_ALLOWED_HOSTS")
    const actorKey = yield* resolveActorKey(dataDir)
    return {
      adminToken: token,
      actorKey,
      allowedOrigins: Option.getOrElse(origins, () => []).map((origin) => origin.replace(/\/+$/, "").toLowerCase()),
      allowedHosts: Option.match(hosts, {
        onNone: () => defaultAllowedHosts(listenHost),
        onSome: (given) => given.map((host) => host.toLowerCase())
      })
    } satisfies AuthSettings
  })
