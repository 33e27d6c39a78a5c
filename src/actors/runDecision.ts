/**
 * Carries out a Decision (src/domain/decision.ts): runs the effects it asks for, in order, until it
 * says what to record. Generic: it knows how to write a route table and claim hostnames, never which
 * use case asked for them.
 */
import { Effect, type Either } from "effect"
import type { Decision, Refusal } from "../domain/decision.js"
import type { ProjectEvent } from "../domain/events.js"
import type { RouteTable } from "../domain/routes.js"

export interface DecisionEffects<E, R> {
  /** The table written atomically: its revision, or why nothing was written. */
  readonly writeRoutes: (table: RouteTable) => Effect.Effect<Either.Either<number, string>, E, R>
  /** The hostnames another project holds. */
  readonly claim: (hostnames: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, E, R>
}

export interface Recorded {
  readonly events: ReadonlyArray<ProjectEvent>
  readonly rejection: Refusal | undefined
}

export const runDecision = <E, R>(decision: Decision, effects: DecisionEffects<E, R>): Effect.Effect<Recorded, E, R> => {
  switch (decision._tag) {
    // The common case (no effect) stays a plain value: no generator per message.
    case "Record":
      return Effect.succeed({ events: decision.events, rejection: decision.rejection })
    case "WriteRoutes":
      return Effect.flatMap(effects.writeRoutes(decision.table), (written) => runDecision(decision.then(written), effects))
    case "ClaimHostnames":
      return Effect.flatMap(effects.claim(decision.hostnames), (taken) => runDecision(decision.then(taken), effects))
  }
}
