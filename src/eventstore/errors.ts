/** The errors of the EventStore and Archive ports (EventStore.ts, Archive.ts). */
import { Data } from "effect"

/** Another writer appended to the project first: reload and decide again. */
export class VersionConflict extends Data.TaggedError("VersionConflict")<{
  readonly projectId: string
  readonly expectedVersion: number
}> {}

/** A stored envelope that this code cannot read: the log needs an upcaster, not a retry. */
export class CorruptEvent extends Data.TaggedError("CorruptEvent")<{
  readonly projectId: string
  readonly seq: number
  readonly message: string
}> {}
