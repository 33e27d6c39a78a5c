/**
 * The EventStore port: a project's log as the actor needs it, and nothing more. Load = the state
 * (snapshot plus the envelopes after it, folded), append = one envelope with the expected version
 * (optimistic concurrency), and a snapshot write. Retired deployments are the separate Archive port
 * (Archive.ts). Layers: JetStream (JetStreamEventStore.ts) and in memory (memory/).
 */
import { Context, Effect } from "effect"
import type { EventEnvelope } from "../domain/events.js"
import { missingReferences, reinstate, toReinstate } from "../domain/retirement.js"
import type { ProjectState } from "../domain/state.js"
import type { NatsError } from "../nats/Nats.js"
import type { ArchiveService } from "./Archive.js"
import type { CorruptEvent, VersionConflict } from "./errors.js"

export { CorruptEvent, VersionConflict } from "./errors.js"

export interface LoadedProject {
  readonly state: ProjectState
  /** Stream sequence of the project's last envelope; 0 for a project with no events. */
  readonly version: number
  readonly envelopesSinceSnapshot: number
}

export type NewEnvelope = Omit<EventEnvelope, "v" | "previousVersion" | "projectId">

export interface EventStoreService {
  readonly load: (projectId: string) => Effect.Effect<LoadedProject, NatsError | CorruptEvent>
  readonly append: (
    projectId: string,
    expectedVersion: number,
    envelope: NewEnvelope
  ) => Effect.Effect<number, VersionConflict | NatsError>
  readonly saveSnapshot: (projectId: string, version: number, state: ProjectState) => Effect.Effect<void, NatsError>
}

export class EventStore extends Context.Tag("berth/EventStore")<EventStore, EventStoreService>() {}

/**
 * A loaded state with the retired deployments its envelopes name brought back: events made while a
 * retired deployment was reinstated (a rollback to it) can name it again.
 */
export const withReferencedReinstated = (
  projectId: string,
  loaded: LoadedProject,
  archive: ArchiveService
): Effect.Effect<LoadedProject, NatsError | CorruptEvent> => {
  const ids = toReinstate(loaded.state, missingReferences(loaded.state))
  if (ids.length === 0) return Effect.succeed(loaded)
  return archive.archived(projectId, ids).pipe(Effect.map((back) => ({ ...loaded, state: reinstate(loaded.state, back) })))
}
