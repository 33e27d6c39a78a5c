import { Data } from "effect"

/** The keys could not be loaded (bad BERTH_SECRETS_KEY, unreadable keys file): Berth does not start. */
export class SecretsKeyError extends Data.TaggedError("SecretsKeyError")<{ readonly source: string; readonly reason: string }> {
  override get message(): string {
    return `secrets keys from ${this.source}: ${this.reason}`
  }
}
