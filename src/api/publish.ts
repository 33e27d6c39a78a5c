/**
 * How the API hands a command to Berth: one JetStream publish to `berth.cmd.<projectId>` (stream
 * BERTH_COMMANDS), exactly as any other publisher would, plus the caller's token id signed with the
 * actor key (src/auth/actor.ts), so the audit trail records who sent it. The actor decides it later;
 * a publish that JetStream does not acknowledge is a 503 problem.
 */
import { randomBytes } from "node:crypto"
import { headers } from "@nats-io/transport-node"
import { Duration, Effect, Schedule } from "effect"
import { ActorKey, actorHeader, actorSignatureHeader, signActor } from "../auth/actor.js"
import type { Command } from "../domain/commands.js"
import { Nats } from "../nats/Nats.js"
import { streams, subjects } from "../nats/subjects.js"
import { ServiceUnavailable } from "./problems.js"
import { CurrentCaller } from "./security.js"

/** Lower-case hex: token-safe, and a deployment id of this shape keeps its plain hostname label. */
const randomId = (prefix: string): string => `${prefix}_${randomBytes(8).toString("hex")}`

export const newDeploymentId = (): string => randomId("dep")
export const newCommandId = (): string => randomId("cmd")

/**
 * A publish JetStream did not acknowledge is tried again for ~3 s before the caller gets a 503: on a
 * cluster, the commands stream answers nothing (or "jetstream is not enabled") for a second or two
 * while it elects a new leader after a node died, and the client moves to another server. Retrying is
 * safe: the message id makes a second copy of an acknowledged-but-unanswered publish a duplicate.
 */
const publishRetry = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(5)))

/**
 * Publishes `command`; resolves with its stream sequence. The JetStream message id is
 * `<projectId>:<commandId>`, so a retried request with the same commandId inside the stream's
 * duplicate window is stored once (the actor ignores a decided commandId anyway).
 */
export const publishCommand = (command: Command): Effect.Effect<number, ServiceUnavailable, Nats | ActorKey | CurrentCaller> =>
  Effect.flatMap(Effect.all([Nats, ActorKey, CurrentCaller]), ([{ js }, key, caller]) => {
    const subject = subjects.command(command.projectId)
    const payload = JSON.stringify(command)
    const h = headers()
    h.set(actorHeader, caller.tokenId)
    h.set(actorSignatureHeader, signActor(key, caller.tokenId, payload))
    return Effect.tryPromise({
      try: () =>
        js.publish(subject, payload, {
          msgID: `${command.projectId}:${command.commandId}`,
          expect: { streamName: streams.commands },
          headers: h
        }),
      catch: (cause) =>
        new ServiceUnavailable({
          detail: `could not publish ${command.type} to ${subject}: ${cause instanceof Error ? cause.message : String(cause)}`
        })
    }).pipe(
      Effect.retry(publishRetry),
      Effect.map((ack) => ack.seq),
      Effect.tap((seq) =>
        Effect.logInfo("command published").pipe(
          Effect.annotateLogs({ type: command.type, commandId: command.commandId, projectId: command.projectId, seq, actor: caller.tokenId })
        )
      ),
      Effect.withSpan("api.publishCommand", { attributes: { type: command.type, projectId: command.projectId } })
    )
  })
