/**
 * Records a CommandRejected for a command no actor can decide: its project is quarantined (its log
 * cannot be decoded) or the command exhausted its deliveries. Appended after the project's head (one
 * direct get of the subject's last message), so it needs no state; a concurrent append by the
 * project's actor only makes it read the head again. The actor, if any, sees a version conflict on
 * its next append and reloads: the log stays the single source of truth.
 */
import { Clock, Effect, Either } from "effect"
import type { CommandHeader } from "../domain/commands.js"
import type { EventStoreService } from "../eventstore/EventStore.js"
import type { DirectReader } from "../nats/DirectReader.js"
import { NatsError } from "../nats/Nats.js"
import { streams, subjects } from "../nats/subjects.js"
import type { Outcome } from "./mailbox.js"

const maxConflicts = 5

export type RecordRejection = (header: CommandHeader, code: string, message: string) => Effect.Effect<Outcome, Error>

export const makeDirectRejection =
  (store: EventStoreService, reader: DirectReader): RecordRejection =>
  (header, code, message) =>
    Effect.gen(function* () {
      for (let attempt = 0; ; attempt++) {
        const head = yield* Effect.tryPromise({
          try: () => reader.lastBySubject(streams.events, subjects.events(header.projectId)),
          catch: (cause) => new NatsError({ operation: "read project head", cause })
        })
        const version = head?.seq ?? 0
        const at = yield* Clock.currentTimeMillis
        const appended = yield* store
          .append(header.projectId, version, {
            commandId: header.commandId,
            at,
            events: [{ type: "CommandRejected", commandId: header.commandId, commandType: header.type, code, message }]
          })
          .pipe(Effect.either)
        if (Either.isRight(appended)) return { _tag: "Rejected", version: appended.right, code, message } satisfies Outcome
        if (appended.left._tag !== "VersionConflict" || attempt >= maxConflicts) return yield* appended.left
      }
    })
