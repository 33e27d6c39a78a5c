/**
 * What a project actor's mailbox holds, what it answers to a command, and why a command can come
 * back unanswered (the intake then nak's it with a delay: it is redelivered later).
 */
import { Data, type Deferred } from "effect"
import type { Command, CommandHeader } from "../domain/commands.js"
import type { StepResult } from "../domain/stepResults.js"

export type Outcome =
  | { readonly _tag: "Appended"; readonly version: number }
  | { readonly _tag: "Rejected"; readonly version: number; readonly code: string; readonly message: string }
  /** Already decided before (a redelivery), or nothing to record. */
  | { readonly _tag: "Unchanged"; readonly version: number }

export type MailboxItem =
  | {
      readonly kind: "command"
      readonly command: Command
      /** Who sent it (src/auth/actor.ts): recorded on the envelope of its decision. */
      readonly actor?: string
      readonly reply: Deferred.Deferred<Outcome, Error>
    }
  /** A command whose header is readable but whose body is not valid: recorded as CommandRejected. */
  | {
      readonly kind: "invalid"
      readonly header: CommandHeader
      readonly code: string
      readonly message: string
      readonly actor?: string
      readonly reply: Deferred.Deferred<Outcome, Error>
    }
  /**
   * What a running step reported (StepSupervisor): its results, decided in order as one envelope;
   * `run` names the launch it came from, `final` marks its last report.
   */
  | {
      readonly kind: "step"
      readonly deploymentId: string
      readonly run: number
      readonly final: boolean
      readonly results: ReadonlyArray<StepResult>
    }
  /** Start (or keep) the actor so it resumes its in-flight steps. */
  | { readonly kind: "wake" }
  /** The actor was passivated (ActorRegistry): nothing else will reach its mailbox; it ends here. */
  | { readonly kind: "stop" }

/** The project's mailbox stayed full for the whole offer timeout: the project is busy or stuck. */
export class MailboxBusy extends Data.TaggedError("MailboxBusy")<{
  readonly projectId: string
  readonly message: string
}> {}

/** The project's actor could not start (its load failed or missed its deadline) or stopped first. */
export class ActorUnavailable extends Data.TaggedError("ActorUnavailable")<{
  readonly projectId: string
  readonly message: string
}> {}
