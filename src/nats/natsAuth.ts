/**
 * How a Berth process authenticates to NATS: a creds file (`NATS_CREDS`), a user and password
 * (`NATS_USER` + `NATS_PASSWORD`) or a token (`NATS_TOKEN`); none of them for a server without
 * authentication. Giving more than one is a configuration error (a role exits 78 and is not
 * restarted), never a silent choice. `NATS_INBOX_PREFIX` sets the prefix of the connection's reply
 * subjects: a server with per-user permissions grants each user its own (`_INBOX_<user>.>` for
 * Berth's own server, src/nats/permissions.ts), so it must match what the server allows.
 */
import { readFile } from "node:fs/promises"
import { AuthorizationError, credsAuthenticator, type ConnectionOptions, UserAuthenticationExpiredError } from "@nats-io/transport-node"
import { Config, ConfigError, Effect, Either, Option } from "effect"

export type NatsAuth =
  | { readonly _tag: "None" }
  | { readonly _tag: "Creds"; readonly path: string }
  | { readonly _tag: "UserPassword"; readonly user: string; readonly password: string }
  | { readonly _tag: "Token"; readonly token: string }

export interface NatsClientAuth {
  readonly auth: NatsAuth
  /** Reply subjects start with this (the client's default `_INBOX` when absent). */
  readonly inboxPrefix?: string
}

export const anonymous: NatsClientAuth = { auth: { _tag: "None" } }

const nonEmpty = (name: string) => Config.option(Config.string(name).pipe(Config.map((value) => value.trim()))).pipe(
  Config.map(Option.filter((value) => value !== ""))
)

/** A subject prefix: tokens without wildcards or whitespace. */
const validPrefix = (prefix: string): boolean => /^[^\s*>.]+(\.[^\s*>.]+)*$/.test(prefix)

const choose = (settings: {
  readonly creds: Option.Option<string>
  readonly user: Option.Option<string>
  readonly password: Option.Option<string>
  readonly token: Option.Option<string>
  readonly inboxPrefix: Option.Option<string>
}): Either.Either<NatsClientAuth, ConfigError.ConfigError> => {
  const invalid = (message: string) => Either.left(ConfigError.InvalidData([], message))
  const given = [
    Option.isSome(settings.creds) ? "NATS_CREDS" : undefined,
    Option.isSome(settings.user) || Option.isSome(settings.password) ? "NATS_USER/NATS_PASSWORD" : undefined,
    Option.isSome(settings.token) ? "NATS_TOKEN" : undefined
  ].filter((name) => name !== undefined)
  if (given.length > 1) return invalid(`NATS credentials: give one of NATS_CREDS, NATS_USER + NATS_PASSWORD or NATS_TOKEN, not ${given.join(" and ")}`)
  if (Option.isSome(settings.inboxPrefix) && !validPrefix(settings.inboxPrefix.value)) {
    return invalid(`NATS_INBOX_PREFIX must be a subject prefix without wildcards or spaces, got "${settings.inboxPrefix.value}"`)
  }
  const inboxPrefix = Option.match(settings.inboxPrefix, { onNone: () => ({}), onSome: (prefix) => ({ inboxPrefix: prefix }) })
  if (Option.isSome(settings.creds)) return Either.right({ auth: { _tag: "Creds", path: settings.creds.value }, ...inboxPrefix })
  if (Option.isSome(settings.token)) return Either.right({ auth: { _tag: "Token", token: settings.token.value }, ...inboxPrefix })
  if (Option.isSome(settings.user) !== Option.isSome(settings.password)) return invalid("NATS_USER and NATS_PASSWORD go together")
  if (Option.isSome(settings.user) && Option.isSome(settings.password)) {
    return Either.right({ auth: { _tag: "UserPassword", user: settings.user.value, password: settings.password.value }, ...inboxPrefix })
  }
  return Either.right({ auth: { _tag: "None" }, ...inboxPrefix })
}

export const natsAuthConfig: Config.Config<NatsClientAuth> = Config.all({
  creds: nonEmpty("NATS_CREDS"),
  user: nonEmpty("NATS_USER"),
  password: nonEmpty("NATS_PASSWORD"),
  token: nonEmpty("NATS_TOKEN"),
  inboxPrefix: nonEmpty("NATS_INBOX_PREFIX")
}).pipe(Config.mapOrFail(choose))

/** The environment that gives a child process these credentials (the supervisor's hand-over). */
export const natsAuthEnv = (client: NatsClientAuth): Record<string, string> => ({
  ...(client.inboxPrefix === undefined ? {} : { NATS_INBOX_PREFIX: client.inboxPrefix }),
  ...(client.auth._tag === "Creds" ? { NATS_CREDS: client.auth.path } : {}),
  ...(client.auth._tag === "UserPassword" ? { NATS_USER: client.auth.user, NATS_PASSWORD: client.auth.password } : {}),
  ...(client.auth._tag === "Token" ? { NATS_TOKEN: client.auth.token } : {})
})

/** The nats.js connect options for these credentials (a creds file is read now). */
export const connectionAuth = (client: NatsClientAuth): Effect.Effect<Partial<ConnectionOptions>, Error> =>
  Effect.gen(function* () {
    const prefix: Partial<ConnectionOptions> = client.inboxPrefix === undefined ? {} : { inboxPrefix: client.inboxPrefix }
    switch (client.auth._tag) {
      case "None":
        return prefix
      case "Token":
        return { ...prefix, token: client.auth.token }
      case "UserPassword":
        return { ...prefix, user: client.auth.user, pass: client.auth.password }
      case "Creds": {
        const path = client.auth.path
        const creds = yield* Effect.tryPromise({
          try: () => readFile(path),
          catch: (cause) => new Error(`cannot read NATS_CREDS file ${path}: ${cause instanceof Error ? cause.message : String(cause)}`)
        })
        return { ...prefix, authenticator: credsAuthenticator(new Uint8Array(creds)) }
      }
    }
  })

/**
 * Why the server refused the credentials, when `error` (or an error it wraps) is such a refusal: a
 * configuration problem that retrying cannot fix (a role exits with the configuration exit code).
 */
export const refusedCredentials = (error: unknown): string | undefined => {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof AuthorizationError || current instanceof UserAuthenticationExpiredError) return current.message
  }
  return undefined
}
