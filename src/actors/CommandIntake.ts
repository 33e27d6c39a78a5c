/**
 * Command intake: a durable pull consumer on BERTH_COMMANDS. Each message is decoded at the edge;
 * valid commands go to their project's actor in stream order, and the message is acknowledged only
 * once its outcome (events or CommandRejected) is durably appended. Bad input never blocks the
 * consumer: undecodable or invalid messages are copied to `berth.dlq.<reason>` with the original
 * payload and acknowledged; when a project can be named, the publisher also sees a CommandRejected.
 *
 * A command that fails (not recorded, its project busy or unable to start) is nak'd with the next
 * delay of BERTH_INTAKE_BACKOFF; on its last delivery (the consumer's max_deliver) it is copied to
 * `berth.dlq.exhausted`, its publisher gets a CommandRejected `delivery_exhausted`, and it is
 * terminated. The backoff is applied as nak delays rather than the consumer's `backoff` list, which
 * the server would also use as the ack wait (a command waiting 1 s behind others would be redelivered).
 * The loop is supervised: when it fails or ends (the consumer deleted, NATS errors) it is restarted
 * with a capped backoff, the consumer re-created from the oldest command not yet settled.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JsMsg
} from "@nats-io/jetstream"
import { headers as natsHeaders, nanos } from "@nats-io/transport-node"
import { Cause, Clock, Data, Duration, Effect, Either, ExecutionStrategy, Layer, Option, ParseResult, Runtime, Schedule, Schema, Scope } from "effect"
import type { OrchestratorSettings } from "../config.js"
import { Command, CommandHeader, commandTypes } from "../domain/commands.js"
import { checkCommandBytes, utf8Bytes } from "../domain/limits.js"
import { Nats, NatsError } from "../nats/Nats.js"
import { streams, subjects } from "../nats/subjects.js"
import { retryAfterFailure } from "../shared/retry.js"
import { ActorKey, actorHeader, actorSignatureHeader, verifiedActor } from "../auth/actor.js"
import { ActorSystem } from "./ActorSystem.js"
import { projectOfCommandSubject } from "./commandSubject.js"
import { IntakeHealth } from "./IntakeHealth.js"
import type { Outcome } from "./mailbox.js"
import { peekHeader } from "./peekHeader.js"
import { type KeptPayload, keptPayload } from "./cleartext.js"
import { parseSealed } from "../domain/secrets.js"
import { Secrets } from "../secrets/Secrets.js"
import { formatParseIssues } from "../shared/parseIssues.js"
import { ProjectOwnership } from "../partitions/Ownership.js"
import { type Feed, makeFeed, partitionFeed, wholeStreamFeed } from "./intakeFeeds.js"
import { runPartitionedIntake } from "./partitionedIntake.js"

export { intakeConsumer } from "./intakeFeeds.js"
const maxInFlight = 1024
const retryDelayMs = 2_000
const deadLetterRetry = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(3)))
const rejectionTimeout = Duration.seconds(5)

export type DeadLetterReason = "undecodable" | "invalid" | "unknown-type" | "subject-mismatch" | "exhausted" | "oversized"

type Triage =
  | { readonly _tag: "Valid"; readonly command: Command }
  | { readonly _tag: "Reject"; readonly header: CommandHeader; readonly reason: DeadLetterReason; readonly code: string; readonly message: string }
  | { readonly _tag: "DeadLetter"; readonly reason: DeadLetterReason; readonly message: string }

const formatIssues = (error: ParseResult.ParseError): string => formatParseIssues(error, { fallback: "invalid command" })

const decodeHeader = Schema.decodeUnknownEither(CommandHeader)
const decodeCommand = Schema.decodeUnknownEither(Command, { errors: "all", onExcessProperty: "ignore" })

/**
 * JSON.parse's message without the piece of input V8 quotes (`Unexpected token 'h', ..."A":hunter2"...
 * is not valid JSON`): the input may hold an env value, and this message goes to headers and logs.
 */
const withoutSnippet = (message: string): string => message.replace(/, (?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/, " (not valid JSON)")

/**
 * Pure: what to do with one raw message. With `partitions` (BERTH_PARTITIONS), a partitioned subject must
 * name the project's own partition (commandSubject.ts).
 */
export const triage = (subject: string, data: string, partitions?: number): Triage => {
  // Refused before JSON.parse; the header is read cheaply so the publisher can still be told why.
  const oversized = checkCommandBytes(utf8Bytes(data))
  if (oversized !== undefined) {
    const header = decodeHeader(peekHeader(data))
    return Either.isRight(header) && Option.contains(projectOfCommandSubject(subject, partitions), header.right.projectId)
      ? { _tag: "Reject", header: header.right, reason: "oversized", code: "invalid_input", message: oversized }
      : { _tag: "DeadLetter", reason: "oversized", message: oversized }
  }
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch (error) {
    return { _tag: "DeadLetter", reason: "undecodable", message: `not JSON: ${withoutSnippet(error instanceof Error ? error.message : String(error))}` }
  }
  const header = decodeHeader(json)
  if (Either.isLeft(header)) {
    return { _tag: "DeadLetter", reason: "invalid", message: `not a command: ${formatIssues(header.left)}` }
  }
  const subjectProject = projectOfCommandSubject(subject, partitions)
  if (Option.isNone(subjectProject)) {
    return {
      _tag: "DeadLetter",
      reason: "subject-mismatch",
      message: subject.startsWith(subjects.partitionedCommand("", "").slice(0, -1))
        ? `subject ${subject} is not ${subjects.partitionedCommand("<the project's partition>", "<projectId>")}`
        : `subject ${subject} is not ${subjects.command("<projectId>")} (one token after ${subjects.command("")})`
    }
  }
  if (header.right.projectId !== subjectProject.value) {
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

/** The intake's loop ended or failed: the supervisor starts it again. */
export class IntakeStopped extends Data.TaggedError("IntakeStopped")<{ readonly message: string }> {}

/** Restarts of a failed intake loop: 200 ms doubling, at most 5 s apart (reset after a minute of consuming). */
const intakeRestartDelay = (failures: number) => Duration.millis(Math.min(200 * 2 ** Math.min(failures, 10), 5_000))
const healthyAfter = Duration.minutes(1)

export const makeCommandIntake = (settings: OrchestratorSettings) =>
  Effect.gen(function* () {
    const { nc, js, jsm } = yield* Nats
    const system = yield* ActorSystem
    const secrets = yield* Secrets
    // Without the actor key (an orchestrator not given one) no signature verifies: every actor is `nats`.
    const actorKey = yield* Effect.serviceOption(ActorKey)
    const actorOf = (message: JsMsg): string =>
      verifiedActor(actorKey, message.headers?.get(actorHeader) || undefined, message.headers?.get(actorSignatureHeader) || undefined, message.data)
    const scope = yield* Effect.scope
    const runtime = yield* Effect.runtime<never>()

    const ownership = yield* Effect.serviceOption(ProjectOwnership)
    const leaseTtl = Option.flatMap(ownership, (owned) => Option.map(owned.leases, () => settings.leaseTtl))
    /**
     * A command still being decided is kept ours with `working()` (one sweep for all of them), well
     * within the ack wait (10 s, or the lease TTL of a partition's consumer: intakeFeeds.ts).
     */
    const progressEveryMs = Option.match(leaseTtl, { onNone: () => 3_000, onSome: (ttl) => Math.min(3_000, Duration.toMillis(ttl) / 3) })

    const setHealth = (feed: Feed, consuming: boolean, lastError?: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const error = lastError ?? feed.health.lastError
        feed.health = { consuming, since: now, ...(error === undefined ? {} : { lastError: error }) }
      })

    /** Stream sequences delivered and not yet acknowledged or terminated -> the last error seen, if any. */
    const unsettled = new Map<number, string | undefined>()
    /** The feeds running, by consumer name. */
    const feeds = new Map<string, Feed>()
    /**
     * Stream sequences whose message holds cleartext env values: once settled (acked or terminated, never
     * when it is to be redelivered) the message is erased from BERTH_COMMANDS, so a cleartext secret
     * lives only until its command is decided. Best effort: a failure is logged (without the value) and
     * the message then ages out with BERTH_COMMANDS_MAX_AGE.
     */
    const cleartext = new Set<number>()
    /**
     * What a dead-letter copy of such a message carries instead of it: a valid command as decided (env
     * sealed), anything else redacted or withheld (cleartext.ts). Worked out once, on delivery.
     */
    const copies = new Map<number, KeptPayload>()
    const eraseCleartext = (seq: number) =>
      Effect.tryPromise({
        try: () => jsm.streams.deleteMessage(streams.commands, seq, true),
        catch: (cause) => new NatsError({ operation: "erase a settled command holding cleartext env values", cause })
      }).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("could not erase a settled command holding cleartext env values; it expires with BERTH_COMMANDS_MAX_AGE", error.message).pipe(
            Effect.annotateLogs({ seq })
          )
        )
      )
    const settled = (message: JsMsg) => {
      unsettled.delete(message.seq)
      feeds.get(message.info.consumer)?.unsettled.delete(message.seq)
      copies.delete(message.seq)
      if (cleartext.delete(message.seq)) Runtime.runFork(runtime)(eraseCleartext(message.seq))
    }

    /** A re-created consumer starts at the oldest command this feed has not settled. */
    const consumerConfig = (feed: Feed): Partial<ConsumerConfig> & { durable_name: string } => {
      const oldest = feed.unsettled.size === 0 ? feed.highestSeen + 1 : Math.min(...feed.unsettled)
      return {
        durable_name: feed.name,
        ...(feed.filterSubject === undefined ? {} : { filter_subject: feed.filterSubject }),
        ack_policy: AckPolicy.Explicit,
        ...(feed.highestSeen === 0
          ? { deliver_policy: DeliverPolicy.All }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: oldest }),
        ack_wait: nanos(feed.ackWaitMs),
        max_ack_pending: maxInFlight,
        max_deliver: settings.intakeMaxDeliver
      }
    }

    /** Creates the consumer, or brings an existing one's delivery limits up to date. */
    const ensureConsumer = (feed: Feed) =>
      Effect.tryPromise({
        try: async () => {
          try {
            const info = await jsm.consumers.info(streams.commands, feed.name)
            const { config } = info
            if (config.max_deliver === settings.intakeMaxDeliver && config.ack_wait === nanos(feed.ackWaitMs) && config.max_ack_pending === maxInFlight) {
              return "unchanged" as const
            }
            await jsm.consumers.update(streams.commands, feed.name, {
              max_deliver: settings.intakeMaxDeliver,
              ack_wait: nanos(feed.ackWaitMs),
              max_ack_pending: maxInFlight
            })
            return "updated" as const
          } catch (error) {
            if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)) throw error
            const config = consumerConfig(feed)
            await jsm.consumers.add(streams.commands, config)
            return config.deliver_policy === DeliverPolicy.All ? ("created" as const) : (`re-created from stream sequence ${config.opt_start_seq ?? 0}` as const)
          }
        },
        catch: (cause) => new NatsError({ operation: "create intake consumer", cause })
      }).pipe(
        Effect.tap((what) =>
          what === "unchanged"
            ? Effect.void
            : Effect.logInfo(`intake consumer ${what}`).pipe(Effect.annotateLogs({ consumer: feed.name, maxDeliver: settings.intakeMaxDeliver }))
        )
      )

    const deadLetter = (message: JsMsg, reason: DeadLetterReason, error: string) =>
      Effect.tryPromise({
        try: () => {
          const h = natsHeaders()
          // Env values are never copied in cleartext: a valid command is copied as sealed (so it can still
          // be replayed), anything else with its values replaced by fingerprints, or withheld.
          const kept = copies.get(message.seq) ?? { payload: "", kind: "original" }
          h.set("Berth-Dlq-Reason", reason)
          if (kept.kind !== "original") h.set("Berth-Dlq-Payload", kept.kind)
          h.set("Berth-Dlq-Error", error.slice(0, 1000).replace(/[\r\n]+/g, " "))
          h.set("Berth-Original-Subject", message.subject)
          h.set("Berth-Original-Seq", String(message.seq))
          // The id makes a redelivered poison message land in the dead-letter stream once.
          const msgID = reason === "exhausted" ? `dlq-exhausted-${message.seq}` : `dlq-${message.seq}`
          return js.publish(subjects.deadLetter(reason), kept.kind === "original" ? message.data : kept.payload, { headers: h, msgID })
        },
        catch: (cause) => new NatsError({ operation: "publish dead letter", cause })
      }).pipe(
        Effect.tap(() =>
          Effect.logWarning("command dead-lettered").pipe(
            Effect.annotateLogs({ subject: message.subject, seq: message.seq, reason, error })
          )
        )
      )

    /** The delay before the next delivery of a message that failed `deliveries` times. */
    const redeliveryDelayMs = (deliveries: number) => {
      const backoff = settings.intakeBackoff
      const delay = backoff[Math.min(Math.max(deliveries, 1), backoff.length) - 1]
      return delay === undefined ? retryDelayMs : Duration.toMillis(delay)
    }

    const redeliverLater = (message: JsMsg, error: string, projectId: string | undefined) =>
      Effect.suspend(() => {
        unsettled.set(message.seq, error)
        // Its partition changed hands (or is being handed over): the next owner should have it now, not after a backoff.
        const handedOver =
          !feeds.has(message.info.consumer) || (projectId !== undefined && Option.isSome(ownership) && !ownership.value.mayDecide(projectId))
        const delay = handedOver ? 0 : redeliveryDelayMs(message.info.deliveryCount)
        message.nak(delay)
        return Effect.logWarning("command not recorded; will be redelivered").pipe(
          Effect.annotateLogs({ seq: message.seq, delivery: message.info.deliveryCount, delayMs: delay, error })
        )
      })

    /**
     * The last delivery failed: a copy goes to `berth.dlq.exhausted`, the publisher gets a
     * CommandRejected when the command names its project (and that can be appended), and the message
     * is terminated so the consumer moves on.
     */
    const exhaust = (message: JsMsg, header: CommandHeader | undefined, lastError: string) =>
      Effect.gen(function* () {
        const deliveries = message.info.deliveryCount
        const reason = `not decided after ${deliveries} deliveries; last error: ${lastError}`
        yield* deadLetter(message, "exhausted", lastError).pipe(
          (self) => retryAfterFailure(self, { schedule: deadLetterRetry }),
          Effect.catchAll((error) =>
            Effect.logError("could not dead-letter an exhausted command; it stays in BERTH_COMMANDS only", error.message).pipe(
              Effect.annotateLogs({ seq: message.seq })
            )
          )
        )
        if (header !== undefined) {
          yield* system.recordRejection(header, "delivery_exhausted", reason).pipe(
            Effect.timeout(rejectionTimeout),
            Effect.catchAll((error) =>
              Effect.logWarning("could not record the rejection of an exhausted command", error.message).pipe(
                Effect.annotateLogs({ projectId: header.projectId, commandId: header.commandId })
              )
            )
          )
        }
        // No reason on the term: nats-server 2.9 does not read "+TERM <reason>" as a term (the message stays pending).
        message.term()
        settled(message)
      })

    /** Commands handed to an actor and not yet settled, with when: the sweep below keeps them ours. */
    const inProgress = new Map<JsMsg, number>()
    yield* Effect.sync(() => {
      const now = Date.now()
      for (const [message, since] of inProgress) if (now - since >= progressEveryMs) message.working()
    }).pipe(Effect.repeat(Schedule.spaced(Duration.millis(progressEveryMs))), Effect.forkIn(scope))

    /** Done: acknowledged. Failed: redelivered later, or dead-lettered once its deliveries are used up. */
    const ackOrRetry =
      (message: JsMsg, header: CommandHeader | undefined) =>
      <A>(self: Effect.Effect<A, Error>) =>
        self.pipe(
          Effect.matchEffect({
            onSuccess: () =>
              Effect.sync(() => {
                message.ack()
                settled(message)
              }),
            onFailure: (error) =>
              message.info.deliveryCount >= settings.intakeMaxDeliver
                ? exhaust(message, header, error.message)
                : redeliverLater(message, error.message, header?.projectId)
          })
        )

    const settle = (message: JsMsg, header: CommandHeader, outcome: Effect.Effect<Outcome, Error>) =>
      Effect.suspend(() => {
        inProgress.set(message, Date.now())
        return outcome
      }).pipe(
        Effect.ensuring(Effect.sync(() => inProgress.delete(message))),
        ackOrRetry(message, header)
      )

    /**
     * A valid Deploy's env sealed before anything records it; a value already sealed is checked to open
     * (one under an unknown key, or damaged, rejects the command as invalid_input, naming the variable).
     */
    const sealVerdict = (verdict: Triage): Effect.Effect<Triage & { readonly cleartext?: boolean }> => {
      if (verdict._tag !== "Valid" || verdict.command.type !== "Deploy" || verdict.command.env === undefined) return Effect.succeed(verdict)
      const command = verdict.command
      const env = command.env ?? {}
      return secrets.sealEnv(command.projectId, env).pipe(
        Effect.match({
          onSuccess: (sealed) => ({
            _tag: "Valid" as const,
            command: { ...command, env: sealed },
            cleartext: Object.values(env).some((value) => parseSealed(value) === undefined)
          }),
          onFailure: (error) => ({ _tag: "Reject" as const, header: command, reason: "invalid" as const, code: "invalid_input", message: error.message })
        })
      )
    }

    /** Enqueues in stream order (so one project's commands stay ordered), then settles in the background. */
    const intake = (feed: Feed, message: JsMsg) =>
      Effect.gen(function* () {
        unsettled.set(message.seq, unsettled.get(message.seq))
        feed.unsettled.add(message.seq)
        if (message.seq > feed.highestSeen) feed.highestSeen = message.seq
        const data = message.string()
        const verdict = yield* sealVerdict(triage(message.subject, data, settings.partitions))
        const copy: KeptPayload =
          verdict._tag !== "Valid"
            ? keptPayload(data)
            : verdict.cleartext === true
            ? { payload: JSON.stringify(verdict.command), kind: "sealed" }
            : { payload: "", kind: "original" }
        if (copy.kind !== "original") {
          cleartext.add(message.seq)
          copies.set(message.seq, copy)
        }
        // Delivered more often than allowed (a consumer whose limit could not be lowered): give up now.
        if (message.info.deliveryCount > settings.intakeMaxDeliver) {
          const header = verdict._tag === "Valid" ? verdict.command : verdict._tag === "Reject" ? verdict.header : undefined
          return yield* exhaust(message, header, unsettled.get(message.seq) ?? "delivered more often than BERTH_INTAKE_MAX_DELIVER allows")
        }
        if (verdict._tag === "DeadLetter") {
          yield* deadLetter(message, verdict.reason, verdict.message).pipe(ackOrRetry(message, undefined))
          return
        }
        if (verdict._tag === "Reject") {
          yield* deadLetter(message, verdict.reason, verdict.message).pipe(Effect.ignore)
          const outcome = yield* system.submitInvalid(verdict.header, verdict.code, verdict.message, actorOf(message))
          yield* Effect.forkIn(settle(message, verdict.header, outcome), scope)
          return
        }
        // The command as decided holds sealed env values only (the raw message is erased once settled).
        const outcome = yield* system.submit(verdict.command, actorOf(message))
        yield* Effect.forkIn(settle(message, verdict.command, outcome), scope)
      })

    /** Ends the pull as soon as the client reports the consumer gone, so the supervisor re-creates it. */
    const watchStatus = (messages: ConsumerMessages) =>
      Effect.tryPromise({
        try: async () => {
          for await (const status of messages.status()) {
            if (status.type === "consumer_deleted" || status.type === "consumer_not_found" || status.type === "stream_not_found") {
              messages.stop(new Error(`intake consumer unavailable: ${status.type.replace(/_/g, " ")}`))
              return
            }
            if (status.type === "heartbeats_missed") {
              Runtime.runFork(runtime)(Effect.logWarning(`intake consumer: ${status.count} heartbeats missed; the client checks the consumer`))
            }
          }
        },
        catch: (cause) => new NatsError({ operation: "watch intake consumer", cause })
      }).pipe(Effect.ignore)

    /**
     * After a reconnect (a restarted nats-server above all) the client's own recovery waits for JetStream
     * to answer a consumer check and then for missed heartbeats, which left commands undelivered for
     * 20-35 s in the chaos suite. Ending the pull instead makes the supervisor ensure the consumer and
     * pull again at once, retrying with its short backoff while JetStream recovers.
     */
    const pullAgainOnReconnect = (messages: { stop: (error?: Error) => void }) =>
      Effect.acquireUseRelease(
        Effect.sync(() => nc.status()[Symbol.asyncIterator]()),
        (statuses) =>
          Effect.tryPromise(async () => {
            for (let next = await statuses.next(); next.done !== true; next = await statuses.next()) {
              if (next.value.type === "reconnect") {
                messages.stop(new Error("NATS reconnected: pulling again"))
                return
              }
            }
          }),
        // Not awaited: the iterator settles its pending next() on its own, and a release must not wait on it.
        (statuses) => Effect.sync(() => void statuses.return?.())
      ).pipe(Effect.ignore)

    /**
     * One run of the intake: ends only by failing (consumer gone, iterator ended, NATS error), or, once
     * the feed is being handed over, when what the client had buffered is nak'd for the next owner.
     */
    const consumeOnce = (feed: Feed) => Effect.gen(function* () {
      yield* ensureConsumer(feed)
      const messages = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () =>
            (await js.consumers.get(streams.commands, feed.name)).consume({
              max_messages: feed.maxMessages,
              expires: feed.pullExpiresMs,
              abort_on_missing_resource: true
            }),
          catch: (cause) => new NatsError({ operation: "consume commands", cause })
        }),
        (consumer) => Effect.sync(() => consumer.stop())
      )
      feed.stopPulling = () => messages.stop()
      if (feed.releasing) messages.stop()
      yield* Effect.forkScoped(watchStatus(messages))
      yield* Effect.forkScoped(pullAgainOnReconnect(messages))
      yield* setHealth(feed, true)
      yield* Effect.logInfo("command intake consuming").pipe(Effect.annotateLogs({ stream: streams.commands, consumer: feed.name }))
      // A plain pull loop rather than Stream.fromAsyncIterable: the iterator's return() would wait for the
      // pending pull to expire, holding shutdown for up to 30 s.
      const iterator = messages[Symbol.asyncIterator]()
      const nextMessage = Effect.tryPromise({
        try: () => iterator.next(),
        catch: (cause) => new NatsError({ operation: "command intake loop", cause })
      })
      for (;;) {
        const next = yield* nextMessage
        if (next.done === true) {
          if (feed.releasing) return
          return yield* new IntakeStopped({ message: "the intake consumer's message iterator ended" })
        }
        if (feed.releasing) {
          // Buffered here but no longer ours to decide: back to the server at once, for the next owner.
          next.value.nak()
          feed.unsettled.delete(next.value.seq)
          continue
        }
        yield* intake(feed, next.value)
      }
    }).pipe(Effect.scoped)

    /** Runs a feed until it is handed over: a failed or ended loop is logged and started again after a capped backoff. */
    const supervise = (feed: Feed) => Effect.gen(function* () {
      let failures = 0
      for (;;) {
        const started = yield* Clock.currentTimeMillis
        const cause = yield* consumeOnce(feed).pipe(Effect.sandbox, Effect.flip)
        if (feed.releasing) return
        const error = Cause.failureOption(cause).pipe(
          Option.map((failure) => failure.message),
          Option.getOrElse(() => Cause.pretty(cause).split("\n")[0] ?? "intake defect")
        )
        yield* setHealth(feed, false, error)
        if ((yield* Clock.currentTimeMillis) - started > Duration.toMillis(healthyAfter)) failures = 0
        const delay = intakeRestartDelay(failures++)
        yield* Effect.logError("command intake stopped; restarting").pipe(
          Effect.annotateLogs({ error, restartInMs: Duration.toMillis(delay), failures })
        )
        yield* Effect.sleep(delay)
      }
    })

    // Closed after the leases are handed over (its finalizer comes first, so it runs last): a feed being
    // handed over at shutdown still gives back what it buffered.
    const feedScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const startFeed = (feed: Feed) => {
      feeds.set(feed.name, feed)
      return Effect.forkIn(supervise(feed), feedScope)
    }

    const leases = Option.flatMap(ownership, (owned) => owned.leases)
    const partitioned = Option.isSome(ownership) && Option.isSome(leases)
      ? yield* runPartitionedIntake({
          leases: leases.value,
          ownership: ownership.value,
          system,
          settings,
          startFeed: (partition) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const feed = makeFeed(partitionFeed(partition, settings.leaseTtl), now)
              return Effect.map(startFeed(feed), (fiber) => ({ feed, fiber }))
            }),
          forget: (feed) => Effect.sync(() => void feeds.delete(feed.name))
        })
      : undefined
    if (partitioned === undefined) {
      const feed = makeFeed(wholeStreamFeed, yield* Clock.currentTimeMillis)
      // The first set-up fails the start (NATS refusing the consumer is a configuration problem).
      yield* ensureConsumer(feed)
      yield* startFeed(feed)
    }

    return IntakeHealth.of({
      status: Effect.gen(function* () {
        const quarantined = yield* system.quarantinedProjects
        const actors = yield* system.activeActors
        const running = [...feeds.values()]
        const stopped = running.find((feed) => !feed.health.consuming)
        const lastError = running.find((feed) => feed.health.lastError !== undefined)?.health.lastError
        const health = stopped?.health ?? {
          consuming: true,
          since: Math.min(...running.map((feed) => feed.health.since), Date.now()),
          ...(lastError === undefined ? {} : { lastError })
        }
        return { ...health, quarantined, actors, ...(partitioned === undefined ? {} : { partitions: yield* partitioned.status }) }
      })
    })
  })

export const CommandIntakeLive = (settings: OrchestratorSettings) => Layer.scoped(IntakeHealth, makeCommandIntake(settings))
