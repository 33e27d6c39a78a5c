/**
 * What the intake may keep of a raw command message once env values are sealed: a publisher may send
 * cleartext env values (Berth seals them on decision), so the raw message must not be copied as it is
 * (to BERTH_DLQ) nor kept (in BERTH_COMMANDS) after it is settled. Pure.
 */
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
  return { payload: JSON.stringify(displayPayload(json)), kind: "redacted" }
}

/** Whether a raw command message holds an env value that is not sealed (so it must not outlive its settlement). */
export const holdsCleartext = (data: string): boolean => keptPayload(data).kind !== "original"
