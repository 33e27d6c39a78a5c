/**
 * API tokens at rest: NATS KV bucket `berth_tokens`, one entry per token keyed by its id, holding
 * its sha256 hash (never the token), workspace (null: all), role, who created it and when, and when
 * it expires. Revoking deletes the entry, so the token stops working on its next request.
 *
 * Every request reads the token's entry (about a millisecond), so a revocation anywhere takes effect at
 * once. Only while NATS does not answer does a token verified in the last few minutes keep working
 * (stale-if-error): the read endpoints, served from PostgreSQL, stay up through a NATS outage, and the
 * first read after it sees any revocation.
 */
import { Kvm, type KV } from "@nats-io/kv"
import { Context, Data, Effect, Either, Layer, Option, Schema } from "effect"
import { Nats } from "../nats/Nats.js"
import { alignReplicas } from "../nats/replicas.js"
import { buckets, kvStream } from "../nats/subjects.js"
import { type Caller, Role } from "./scope.js"
import { hashToken, newToken, parseToken, verifyToken } from "./token.js"

export class TokenStoreError extends Data.TaggedError("TokenStoreError")<{ readonly operation: string; readonly cause: unknown }> {
  override get message(): string {
    return `${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export const TokenRecord = Schema.Struct({
  id: Schema.String,
  /** sha256 of the token, hex. */
  hash: Schema.String,
  workspace: Schema.NullOr(Schema.String),
  role: Role,
  /** The token id that created it. */
  createdBy: Schema.String,
  /** Epoch ms. */
  createdAt: Schema.Number,
  /** Epoch ms; null: never. */
  expiresAt: Schema.NullOr(Schema.Number),
  description: Schema.optional(Schema.String)
})
export type TokenRecord = typeof TokenRecord.Type

/** What lists show: everything but the hash. */
export type TokenInfo = Omit<TokenRecord, "hash">

export interface NewToken {
  readonly workspace: string | null
  readonly role: Role
  readonly createdBy: string
  readonly expiresInMs?: number
  readonly description?: string
}

export interface TokenStoreService {
  /** The caller a store token stands for; none when it is unknown, revoked, expired or wrong. */
  readonly authenticate: (token: string) => Effect.Effect<Option.Option<Caller>, TokenStoreError>
  /** Creates a token; the token itself is in the answer only. */
  readonly create: (input: NewToken) => Effect.Effect<{ readonly token: string; readonly info: TokenInfo }, TokenStoreError>
  readonly list: Effect.Effect<ReadonlyArray<TokenInfo>, TokenStoreError>
  readonly get: (id: string) => Effect.Effect<Option.Option<TokenInfo>, TokenStoreError>
  /** false when there was no such token. */
  readonly revoke: (id: string) => Effect.Effect<boolean, TokenStoreError>
}

const decodeRecord = Schema.decodeUnknownEither(Schema.parseJson(TokenRecord))
const encodeRecord = Schema.encodeSync(Schema.parseJson(TokenRecord))

const info = ({ hash: _hash, ...rest }: TokenRecord): TokenInfo => rest

export const openTokenBucket = (nc: Context.Tag.Service<Nats>["nc"], replicas = 1): Effect.Effect<KV, TokenStoreError> =>
  Effect.tryPromise({
    try: () => new Kvm(nc).create(buckets.tokens, { history: 1, replicas }),
    catch: (cause) => new TokenStoreError({ operation: `open KV bucket ${buckets.tokens}`, cause })
  })

/** How long a verified token outlives a NATS outage, and how many such tokens a process remembers. */
export const staleIfErrorMs = 5 * 60_000
const rememberedMax = 10_000

/** Token ids are KV keys: anything else is simply unknown. */
const validId = (id: string): boolean => /^tok_[0-9a-f]{16}$/.test(id)

export const makeTokenStore = (kv: KV): TokenStoreService => {
  const attempt = <A>(operation: string, run: () => Promise<A>) =>
    Effect.tryPromise({ try: run, catch: (cause) => new TokenStoreError({ operation, cause }) })

  const read = (id: string): Effect.Effect<Option.Option<TokenRecord>, TokenStoreError> =>
    validId(id)
      ? attempt("read token", () => kv.get(id)).pipe(
        Effect.map((entry) =>
          entry === null || entry.operation !== "PUT" ? Option.none() : Either.getRight(decodeRecord(entry.string()))
        )
      )
      : Effect.succeed(Option.none())

  /** The last entry read for each token id (insertion order = age), for stale-if-error. */
  const remembered = new Map<string, { readonly record: TokenRecord; readonly at: number }>()
  const remember = (id: string, record: Option.Option<TokenRecord>) => {
    remembered.delete(id)
    if (Option.isNone(record)) return
    remembered.set(id, { record: record.value, at: Date.now() })
    if (remembered.size > rememberedMax) {
      const oldest = remembered.keys().next()
      if (oldest.done !== true) remembered.delete(oldest.value)
    }
  }
  const recalled = (id: string): Option.Option<TokenRecord> => {
    const known = remembered.get(id)
    return known !== undefined && Date.now() - known.at < staleIfErrorMs ? Option.some(known.record) : Option.none()
  }

  return {
    authenticate: (token) => {
      const parsed = parseToken(token)
      if (parsed === undefined) return Effect.succeed(Option.none())
      return read(parsed.id).pipe(
        Effect.tap((record) => Effect.sync(() => remember(parsed.id, record))),
        Effect.catchAll((error) => {
          const known = recalled(parsed.id)
          return Option.isSome(known)
            ? Effect.as(Effect.logWarning("token store unavailable: using the token's last verified entry", error.message), known)
            : Effect.fail(error)
        }),
        // The hash and the expiry are checked on every request, the remembered entry included.
        Effect.map(Option.flatMap((record) =>
          verifyToken(token, record.hash) && (record.expiresAt === null || record.expiresAt > Date.now())
            ? Option.some<Caller>({ tokenId: record.id, workspace: record.workspace, role: record.role })
            : Option.none()
        ))
      )
    },
    create: (input) =>
      Effect.gen(function*() {
        const { id, token } = newToken()
        const now = Date.now()
        const record: TokenRecord = {
          id,
          hash: hashToken(token),
          workspace: input.workspace,
          role: input.role,
          createdBy: input.createdBy,
          createdAt: now,
          expiresAt: input.expiresInMs === undefined ? null : now + input.expiresInMs,
          ...(input.description === undefined ? {} : { description: input.description })
        }
        // create, not put: a (vanishingly unlikely) id clash never overwrites another token.
        yield* attempt("store token", () => kv.create(id, encodeRecord(record)))
        return { token, info: info(record) }
      }),
    list: attempt("list tokens", async () => {
      const ids: Array<string> = []
      for await (const key of await kv.keys()) ids.push(key)
      return ids
    }).pipe(
      Effect.flatMap((ids) => Effect.forEach(ids, read, { concurrency: 8 })),
      Effect.map((records) => records.flatMap((record) => Option.toArray(Option.map(record, info)))),
      Effect.map((infos) => infos.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id)))
    ),
    get: (id) => Effect.map(read(id), Option.map(info)),
    revoke: (id) =>
      Effect.flatMap(read(id), (record) =>
        Option.isNone(record)
          ? Effect.succeed(false)
          : Effect.as(Effect.zipLeft(attempt("revoke token", () => kv.purge(id)), Effect.sync(() => remembered.delete(id))), true))
  }
}

export class TokenStore extends Context.Tag("berth/TokenStore")<TokenStore, TokenStoreService>() {
  /** The store on the `berth_tokens` bucket of the Nats connection (created when missing). */
  static readonly layer: Layer.Layer<TokenStore, TokenStoreError, Nats> = Layer.effect(
    TokenStore,
    Effect.flatMap(Nats, ({ nc, jsm, replication }) =>
      Effect.map(
        // The API owns this bucket: it brings an existing one to the replica count, as the orchestrator does its own.
        Effect.zipLeft(openTokenBucket(nc, replication.replicas), replication.replicas > 1 ? alignReplicas(jsm, replication, [kvStream(buckets.tokens)]) : Effect.void),
        makeTokenStore
      ))
  )
}
