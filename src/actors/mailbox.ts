/**
 * What a project actor's mailbox holds, and what it answers to a command.
 */
import type { Deferred } from "effect"
import type { Command, CommandHeader } from "../domain/commands.js"
import type { StepResult } from "../domain/stepResults.js"

export type Outcome =
  | { readonly _tag: "Appended"; readonly version: number }
  | { readonly _tag: "Rejected"; readonly version: number; readonly code: string; readonly message: string }
  /** Already decided before (a redelivery), or nothing to record. */
  | { readonly _tag: "Unchanged"; readonly version: number }

export type MailboxItem =
  | { readonly kind: "command"; readonly command: Command; readonly reply: Deferred.Deferred<Outcome, Error> }
  /** A command whose header is readable but whose body is not valid: recorded as CommandRejected. */
  | {
      readonly kind: "invalid"
      readonly header: CommandHeader
      readonly code: string
      readonly message: string
      readonly reply: Deferred.Deferred<Outcome, Error>
    }
  | { readonly kind: "step"; readonly key: string; readonly final: boolean; readonly result: StepResult }
  /** Start (or keep) the actor so it resumes its in-flight steps. */
  | { readonly kind: "wake" }
