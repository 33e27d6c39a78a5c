/**
 * Who sent a command, as the audit trail records it. The API publishes each command with the
 * caller's token id in `Berth-Actor` and an HMAC-SHA256 over that id and the command's bytes in
 * `Berth-Actor-Signature`, keyed by the actor key the API and the orchestrator share
 * (BERTH_ACTOR_KEY, else `<dataDir>/actor.key`, generated once, 0600). The intake records the claimed
 * actor only when the signature verifies; anything else — a raw NATS publisher naming any actor it
 * likes, a signature copied onto other bytes — is recorded as `nats`. So nobody who can only publish to
 * NATS can act in a token's name in the audit trail.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import { join } from "node:path"
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { readOrCreateSecretFile } from "../local/secretFile.js"

export const actorHeader = "Berth-Actor"
export const actorSignatureHeader = "Berth-Actor-Signature"

/** The actor of a command whose sender could not be verified (a raw NATS publisher). */
export const unverifiedActor = "nats"

/** Token ids (`tok_…`, `admin`): anything else claimed in the header is not an actor. */
const actorPattern = /^[A-Za-z0-9_-]{1,64}$/

export const actorKeyFile = (dataDir: string): string => join(dataDir, "actor.key")

/** The key that signs actor headers, shared by the API and the orchestrator. */
export class ActorKey extends Context.Tag("berth/ActorKey")<ActorKey, Redacted.Redacted<string>>() {
  /** BERTH_ACTOR_KEY, else `<dataDir>/actor.key` (created on first use). */
  static readonly layer = (dataDir: string) => Layer.effect(ActorKey, resolveActorKey(dataDir))
}

export const resolveActorKey = (dataDir: string) =>
  Effect.flatMap(Config.option(Config.redacted("BERTH_ACTOR_KEY")), Option.match({
    onSome: Effect.succeed,
    onNone: () => Effect.map(readOrCreateSecretFile(actorKeyFile(dataDir)), Redacted.make)
  }))

const digest = (payload: Uint8Array | string): Buffer => createHash("sha256").update(payload).digest()

export const signActor = (key: Redacted.Redacted<string>, actor: string, payload: Uint8Array | string): string =>
  createHmac("sha256", Redacted.value(key)).update(`${actor}\n`).update(digest(payload)).digest("base64url")

/** The actor to record: the claimed one when its signature over `payload` verifies, else `nats`. */
export const verifiedActor = (
  key: Option.Option<Redacted.Redacted<string>>,
  claimed: string | undefined,
  signature: string | undefined,
  payload: Uint8Array | string
): string => {
  if (Option.isNone(key) || claimed === undefined || signature === undefined || !actorPattern.test(claimed)) return unverifiedActor
  const expected = Buffer.from(signActor(key.value, claimed, payload), "base64url")
  const given = Buffer.from(signature, "base64url")
  return expected.length === given.length && timingSafeEqual(expected, given) ? claimed : unverifiedActor
}
