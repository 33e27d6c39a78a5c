/**
 * How long BERTH_COMMANDS and BERTH_DLQ keep messages (BERTH_EVENTS is the system of record and
 * keeps everything, always). Read with Config; ensureStreams (Nats.ts) applies them to new and
 * existing streams on every start.
 *
 * Commands expire by age (max_age) rather than through work-queue retention: JetStream cannot switch
 * an existing stream to work-queue retention (the stream would have to be recreated, losing whatever
 * it held), work-queue streams allow a single consumer per subject (no replay or inspection tools
 * beside the intake), and a command's outcome is in BERTH_EVENTS anyway. A command acknowledged
 * long ago is useless; 7 days covers any outage Berth is expected to recover from (a command still
 * unconsumed when it expires is lost: keep the setting above your longest tolerated downtime).
 */
import { Config, Duration } from "effect"

export interface StreamRetention {
  /** BERTH_COMMANDS' max_age. */
  readonly commandsMaxAge: Duration.Duration
  /** BERTH_DLQ's max_age. */
  readonly deadLettersMaxAge: Duration.Duration
  /** BERTH_DLQ's max_bytes; the oldest dead letters go first when it is full. */
  readonly deadLettersMaxBytes: number
}

export const defaultStreamRetention: StreamRetention = {
  commandsMaxAge: Duration.days(7),
  deadLettersMaxAge: Duration.days(30),
  deadLettersMaxBytes: 1024 * 1024 * 1024
}

const positiveDuration = (name: string, fallback: Duration.Duration) =>
  Config.duration(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive duration such as "7 days"`, validation: (d) => Duration.toMillis(d) > 0 })
  )

export const streamRetention: Config.Config<StreamRetention> = Config.all({
  commandsMaxAge: positiveDuration("BERTH_COMMANDS_MAX_AGE", defaultStreamRetention.commandsMaxAge),
  deadLettersMaxAge: positiveDuration("BERTH_DLQ_MAX_AGE", defaultStreamRetention.deadLettersMaxAge),
  deadLettersMaxBytes: Config.integer("BERTH_DLQ_MAX_BYTES").pipe(
    Config.withDefault(defaultStreamRetention.deadLettersMaxBytes),
    Config.validate({ message: "BERTH_DLQ_MAX_BYTES must be a positive number of bytes", validation: (n) => n > 0 })
  )
})
