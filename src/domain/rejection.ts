/** Why a command is refused: a code a client can branch on and Unkey's message (spec 3.1). */
import { Data } from "effect"

export class Rejection extends Data.TaggedError("Rejection")<{
  readonly code:
    | "project_exists"
    | "project_not_found"
    | "environment_not_found"
    | "deployment_exists"
    | "deployment_not_found"
    | "precondition_failed"
    | "routing_failed"
    | "invalid_input"
    | "hostname_taken"
  readonly message: string
}> {}
