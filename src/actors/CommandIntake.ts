/**
 * Command intake: a durable pull consumer on BERTH_COMMANDS. Each message is decoded at the edge;
 * valid commands go to their project's actor in stream order, and the message is acknowledged only
 * once its outcome (events or CommandRejected) is durably appended. Bad input never blocks the
 * consumer: undecodable or invalid messages are copied to `berth.dlq.<reason>` with the original
 * payload and acknowledged; when a project can be named, the publisher also sees a CommandRejected.
 */
import { AckPolicy, DeliverPolicy, type JsMsg } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { Effect, Either, Layer, ParseResult, Schema } from "effect"
import { Command, CommandHeader, commandTypes } from "../domain/commands.js"
import { checkCommandBytes, utf8Bytes } from "../domain/limits.js"
import { Nats, NatsError } from "../eventstore/Nats.js"
import { projectIdOfSubject, streams, subjects } from "../eventstore/subjects.js"
import { ActorSystem } from "./ActorSystem.js"
import type { Outcome } from "./mailbox.js"
import { peekHeader } from "./peekHeader.js"

export const intakeConsumer = "berth-intake"
const maxInFlight = 1024
const retryDelayMs = 2_000

export type DeadLetterReason = "undecodable" | "invalid" | "unknown-type" | "subject-mismatch" | "oversized"

type Triage =
  | { readonly _tag: "Valid"; readonly command: Command }
  | { readonly _tag: "Reject"; readonly header: CommandHeader; readonly reason: DeadLetterReason; readonly code: string; readonly message: string }
  | { readonly _tag: "DeadLetter"; readonly reason: DeadLetterReason; readonly message: string }

/** One line per problem; the "Expected undefined" half of every optional field's union is noise. */
const formatIssues = (error: ParseResult.ParseError): string => {
  const lines = ParseResult.ArrayFormatter.formatErrorSync(error)
    .filter((issue) => !issue.message.startsWith("Expected undefined"))
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
  return [...new Set(lines)].join("; ") || "invalid command"
}

const decodeHeader = Schema.decodeUnknownEither(CommandHeader)
const decodeCommand = Schema.decodeUnknownEither(Command, { errors: "all", onExcessProperty: "ignore" })

/** Pure: what to do with one raw message. */
export const triage = (subject: string, data: string): Triage => {
  // Refused before JSON.parse; the header is read cheaply so the publisher can still be told why.
  const oversized = checkCommandBytes(utf8Bytes(data))
  if (oversized !== undefined) {
    const header = decodeHeader(peekHeader(data))
    return Either.isRight(header) && header.right.projectId === projectIdOfSubject(subject)
      ? { _tag: "Reject", header: header.right, reason: "oversized", code: "invalid_input", message: oversized }
      : { _tag: "DeadLetter", reason: "oversized", message: oversized }
  }
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch (error) {
    return { _tag: "DeadLetter", reason: "undecodable", message: `not JSON: ${error instanceof Error ? error.message : String(error)}` }
  }
  const header = decodeHeader(json)
  if (Either.isLeft(header)) {
    return { _tag: "DeadLetter", reason: "invalid", message: `not a command: ${formatIssues(header.left)}` }
  }
  const subjectProject = projectIdOfSubject(subject)
  if (header.right.projectId !== subjectProject) {
    return {
      _tag: "DeadLetter",
      reason: "subject-mismatch",
      message: `projectId ${header.right.projectId} does not match subject ${subject}`
    }
  }
  if (!(commandTypes as ReadonlyArray<string>).includes(header.right.type)) {
    return {
      _tag: "Reject",
      header: header.right,
      reason: "unknown-type",
      code: "unknown_command",
      message: `unknown command type: ${header.right.type} (expected one of ${commandTypes.join(", ")})`
    }
  }
  const command = decodeCommand(json)
  if (Either.isLeft(command)) {
    return { _tag: "Reject", header: header.right, reason: "invalid", code: "invalid_input", message: formatIssues(command.left) }
  }
  return { _tag: "Valid", command: command.right }
}

export const makeCommandIntake = Effect.gen(function* () {
  const { js, jsm } = yield* Nats
  const system = yield* ActorSystem
  const scope = yield* Effect.scope

  yield* Effect.tryPromise({
    try: async () => {
      const config = {
        durable_name: intakeConsumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 30_000_000_000,
        max_ack_pending: maxInFlight
      }
      try {
        await jsm.consumers.info(streams.commands, intakeConsumer)
      } catch {
        await jsm.consumers.add(streams.commands, config)
      }
    },
    catch: (cause) => new NatsError({ operation: "create intake consumer", cause })
  })

  const deadLetter = (message: JsMsg, reason: DeadLetterReason, error: string) =>
    Effect.tryPromise({
      try: () => {
        const h = natsHeaders()
        h.set("Berth-Dlq-Reason", reason)
        h.set("Berth-Dlq-Error", error.slice(0, 1000).replace(/[\r\n]+/g, " "))
        h.set("Berth-Original-Subject", message.subject)
        h.set("Berth-Original-Seq", String(message.seq))
        // The id makes a redelivered poison message land in the dead-letter stream once.
        return js.publish(subjects.deadLetter(reason), message.data, { headers: h, msgID: `dlq-${message.seq}` })
      },
      catch: (cause) => new NatsError({ operation: "publish dead letter", cause })
    }).pipe(
      Effect.tap(() =>
        Effect.logWarning("command dead-lettered").pipe(
          Effect.annotateLogs({ subject: message.subject, seq: message.seq, reason, error })
        )
      )
    )

  const settle = (message: JsMsg, outcome: Effect.Effect<Outcome, Error>) =>
    outcome.pipe(
      Effect.matchEffect({
        onSuccess: () => Effect.sync(() => message.ack()),
        onFailure: (error) =>
          Effect.logWarning("command not recorded; will be redelivered", error.message).pipe(
            Effect.andThen(Effect.sync(() => message.nak(retryDelayMs)))
          )
      })
    )

  /** Enqueues in stream order (so one project's commands stay ordered), then settles in the background. */
  const intake = (message: JsMsg) =>
    Effect.gen(function* () {
      const verdict = triage(message.subject, message.string())
      if (verdict._tag === "DeadLetter") {
        yield* deadLetter(message, verdict.reason, verdict.message).pipe(
          Effect.matchEffect({
            onSuccess: () => Effect.sync(() => message.ack()),
            onFailure: () => Effect.sync(() => message.nak(retryDelayMs))
          })
        )
        return
      }
      if (verdict._tag === "Reject") {
        yield* deadLetter(message, verdict.reason, verdict.message).pipe(Effect.ignore)
        const outcome = yield* system.submitInvalid(verdict.header, verdict.code, verdict.message)
        yield* Effect.forkIn(settle(message, outcome), scope)
        return
      }
      const outcome = yield* system.submit(verdict.command)
      yield* Effect.forkIn(settle(message, outcome), scope)
    })

  const messages = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => (await js.consumers.get(streams.commands, intakeConsumer)).consume({ max_messages: 256 }),
      catch: (cause) => new NatsError({ operation: "consume commands", cause })
    }),
    (consumer) => Effect.sync(() => consumer.stop())
  )

  // A plain pull loop rather than Stream.fromAsyncIterable: the iterator's return() would wait for the
  // pending pull to expire, holding shutdown for up to 30 s.
  const iterator = messages[Symbol.asyncIterator]()
  const nextMessage = Effect.tryPromise({
    try: () => iterator.next(),
    catch: (cause) => new NatsError({ operation: "command intake loop", cause })
  })
  yield* Effect.gen(function* () {
    for (;;) {
      const next = yield* nextMessage
      if (next.done === true) return
      yield* intake(next.value)
    }
  }).pipe(
    Effect.tapError((error) => Effect.logError("command intake stopped", error.message)),
    Effect.forkScoped
  )
  yield* Effect.logInfo("command intake consuming").pipe(Effect.annotateLogs({ stream: streams.commands }))
})

export const CommandIntakeLive = Layer.scopedDiscard(makeCommandIntake)
