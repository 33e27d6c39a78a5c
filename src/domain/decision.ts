/**
 * What the decider answers, as data: the events to record (a rejection is recorded too, as
 * CommandRejected), or first an effect whose outcome the rest of the decision depends on. The actor
 * interprets it generically (src/actors/runDecision.ts): it never knows which use case asked.
 * - WriteRoutes: one atomic write of the project's whole route table, before the events that say it
 *   happened (Rollback, Promote, a compensation releasing hostnames); the write's revision or failure
 *   decides what is recorded.
 * - ClaimHostnames: tenant isolation (claims.ts); the hostnames another project holds decide.
 */
import type { Either } from "effect"
import type { ProjectEvent } from "./events.js"
import type { RouteTable } from "./routes.js"

export interface Refusal {
  readonly code: string
  readonly message: string
}

export type Decision =
  | {
      readonly _tag: "Record"
      /** Empty: nothing to record (a duplicate, or a stale step result). */
      readonly events: ReadonlyArray<ProjectEvent>
      /** Set when the events record a refused command. */
      readonly rejection?: Refusal
    }
  | {
      readonly _tag: "WriteRoutes"
      readonly table: RouteTable
      /** Right: the revision the write got; Left: why it failed (nothing moved). */
      readonly then: (written: Either.Either<number, string>) => Decision
    }
  | {
      readonly _tag: "ClaimHostnames"
      readonly hostnames: ReadonlyArray<string>
      /** `taken`: the hostnames another project holds (empty when all are this project's now). */
      readonly then: (taken: ReadonlyArray<string>) => Decision
    }

export const record = (events: ReadonlyArray<ProjectEvent>): Decision => ({ _tag: "Record", events })
export const nothing: Decision = record([])

/** A refused command, recorded so a redelivery is answered the same way. */
export const refuse = (commandId: string, commandType: string, refusal: Refusal): Decision => ({
  _tag: "Record",
  events: [{ type: "CommandRejected", commandId, commandType, code: refusal.code, message: refusal.message }],
  rejection: { code: refusal.code, message: refusal.message }
})

/**
 * The decision, then what `next` decides after its events (each effect's outcome first, in order). A
 * rejection ends it: nothing after a refused command is decided.
 */
export const andThen = (decision: Decision, next: (events: ReadonlyArray<ProjectEvent>) => Decision): Decision => {
  switch (decision._tag) {
    case "Record":
      return decision.rejection === undefined ? next(decision.events) : decision
    case "WriteRoutes":
      return { _tag: "WriteRoutes", table: decision.table, then: (written) => andThen(decision.then(written), next) }
    case "ClaimHostnames":
      return { _tag: "ClaimHostnames", hostnames: decision.hostnames, then: (taken) => andThen(decision.then(taken), next) }
  }
}
