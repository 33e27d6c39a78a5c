/**
 * What the intake may keep of a raw command message once env values are sealed: a publisher may send
 * cleartext env values (Berth seals them on decision), so the raw message must not be copied as it is
 * (to BERTH_DLQ) nor kept (in BERTH_COMMANDS) after it is settled. Pure.
 */
import { limits, utf8Bytes } from "../domain/limits.js"
import { displayPayload, parseSealed } from "../domain/secrets.js"

export interface KeptPayload {
  /** The payload to copy: the original, env values shown as `sealed(<fp>)`/`redacted`, or "" when withheld. */
  readonly payload: string
  /**
   * "original", "redacted" (env values replaced, keys kept), "withheld" (not JSON, and it mentions env),
   * or "sealed" (the intake's copy of a valid command as decided, env sealed).
   */
  readonly kind: "original" | "redacted" | "withheld" | "sealed"
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The payload with every `env` value that is not sealed replaced. A payload that is not JSON but
 * mentions env might hold a value anywhere in it: it is withheld whole.
 */
export const keptPayload = (data: string): KeptPayload => {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    return /env/i.test(data) ? { payload: "", kind: "withheld" } : { payload: data, kind: "original" }
  }
  if (!isRecord(json) || !("env" in json)) return { payload: data, kind: "original" }
  const env = json["env"]
  if (isRecord(env) && Object.values(env).every((value) => typeof value === "string" && parseSealed(value) !== undefined)) {
    return { payload: data, kind: "original" }
  }
  // An env over the entry limit (refused anyway) is not worth listing: its keys are dropped at once.
  const listable = !isRecord(env) || Object.keys(env).length <= limits.envEntries
  const redacted = listable ? JSON.stringify(displayPayload(json)) : undefined
  if (redacted !== undefined && utf8Bytes(redacted) <= limits.commandBytes) return { payload: redacted, kind: "redacted" }
  // Never larger than a command may be (a dead letter must fit BERTH_DLQ; "redacted" can be longer than a
  // value): the env's keys are dropped too, and if that is still too large the payload is withheld whole.
  const slim = JSON.stringify({ ...json, env: "withheld" })
  return utf8Bytes(slim) <= limits.commandBytes ? { payload: slim, kind: "redacted" } : { payload: "", kind: "withheld" }
}
