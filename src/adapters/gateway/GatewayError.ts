/**
 * The gateway's one error: it could not open or watch the route table, or could not listen.
 */
import { Data } from "effect"

export class GatewayError extends Data.TaggedError("GatewayError")<{ readonly operation: string; readonly cause: unknown }> {
  override get message(): string {
    return `${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}
