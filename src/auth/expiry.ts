/**
 * Token lifetimes as people write them: `30d`, `12h`, `90m`, `2w` (a positive whole number and a
 * unit). Parsed to milliseconds; anything else is refused with a message naming the accepted forms.
 */
import { Either } from "effect"

const unitMs: Readonly<Record<string, number>> = {
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000
}

/** At most ten years: a typo like `3650000d` is a mistake, not a lifetime. */
const maxMs = 3_650 * 86_400_000

export const expiryHelp = "a lifetime like 30d, 12h, 90m or 2w"

export const parseExpiry = (text: string): Either.Either<number, string> => {
  const match = /^([1-9][0-9]{0,6})([mhdw])$/.exec(text.trim())
  const unit = match?.[2] === undefined ? undefined : unitMs[match[2]]
  if (match?.[1] === undefined || unit === undefined) return Either.left(`invalid expiry "${text}": expected ${expiryHelp}`)
  const ms = Number(match[1]) * unit
  return ms > maxMs ? Either.left(`invalid expiry "${text}": at most 3650d`) : Either.right(ms)
}
