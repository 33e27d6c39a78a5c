/**
 * The one failure krane-local reports to whoever starts it: it could not set itself up (data dir,
 * listening socket) or could not start a process it was asked to run.
 */
import { Data } from "effect"

export class KraneLocalError extends Data.TaggedError("KraneLocalError")<{ readonly message: string }> {}

/** A thrown value as one line of text. */
export const describeCause = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))
