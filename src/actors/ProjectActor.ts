/**
 * One project's actor: rehydrates from the log, then handles its mailbox one message at a time —
 * decide, append (expected version), evolve — and starts the steps the new state asks for in child
 * fibers, which report back through the mailbox. So a deployment in progress never blocks a decision.
 * It never performs a side effect itself, and never writes state anywhere but the log.
 */
import { Clock, Deferred, Duration, Effect, Either, Queue, Schedule } from "effect"
import type { OrchestratorSettings } from "../config.js"
import { decide, type Message } from "../domain/decide.js"
import type { ProjectEvent } from "../domain/events.js"
import { evolveAll, type ProjectState } from "../domain/state.js"
import { hasWorkInFlight, nextSteps, stepKey } from "../domain/steps.js"
import { EventStore } from "../eventstore/EventStore.js"
import type { MailboxItem, Outcome } from "./mailbox.js"
import { runStep, type Report } from "./StepRunner.js"

export interface ActorHooks {
  /** Records whether the project has work in flight, so a new process knows whom to resume. */
  readonly markInFlight: (projectId: string, inFlight: boolean) => Effect.Effect<void>
  /** Asks the system to retire this idle actor; false when a message is on its way. */
  readonly tryPassivate: Effect.Effect<boolean>
}

const maxConflictRetries = 5
const appendRetry = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(4)))

type Decided = { readonly events: ReadonlyArray<ProjectEvent>; readonly outcome: (version: number) => Outcome }

export const runProjectActor = (
  projectId: string,
  mailbox: Queue.Queue<MailboxItem>,
  settings: OrchestratorSettings,
  hooks: ActorHooks
) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const scope = yield* Effect.scope
    const loaded = yield* store.load(projectId)
    let state: ProjectState = loaded.state
    let version = loaded.version
    let sinceSnapshot = loaded.envelopesSinceSnapshot
    let inFlightMarked: boolean | undefined
    const running = new Set<string>()
    yield* Effect.logDebug("actor started").pipe(Effect.annotateLogs({ version }))

    const report =
      (key: string): Report =>
      (result, final) =>
        Queue.offer(mailbox, { kind: "step", key, final, result }).pipe(Effect.asVoid)

    const launchDueSteps = Effect.gen(function* () {
      const routingBusy = [...running].some((key) => key.startsWith("assign-domains:"))
      let routingClaimed = routingBusy
      for (const step of nextSteps(state)) {
        const key = stepKey(step)
        if (running.has(key)) continue
        // Route writes are serialised per project: each is derived from the state it was planned at.
        if (step.kind === "assign-domains") {
          if (routingClaimed) continue
          routingClaimed = true
        }
        running.add(key)
        const replicas = state.deployments[step.deploymentId]?.replicas ?? 1
        yield* runStep(step, { settings, basedOnVersion: version, replicas }, report(key)).pipe(
          Effect.catchAllCause((cause) =>
            report(key)(
              {
                type: "StepFailed",
                deploymentId: step.deploymentId,
                step: step.kind,
                reason: `internal error: ${cause.toString().slice(0, 500)}`
              },
              true
            )
          ),
          Effect.forkIn(scope)
        )
      }
    })

    const syncInFlight = Effect.gen(function* () {
      const inFlight = hasWorkInFlight(state)
      if (inFlight !== inFlightMarked) {
        yield* hooks.markInFlight(projectId, inFlight)
        inFlightMarked = inFlight
      }
    })

    const maybeSnapshot = Effect.gen(function* () {
      if (sinceSnapshot < settings.snapshotEvery) return
      yield* store.saveSnapshot(projectId, version, state).pipe(
        Effect.tap(() => Effect.sync(() => (sinceSnapshot = 0))),
        Effect.catchAll((error) => Effect.logWarning("snapshot failed", error.message))
      )
    })

    const decideItem = (item: Exclude<MailboxItem, { kind: "wake" }>, now: number): Decided => {
      if (item.kind === "invalid") {
        if (state.handledCommands[item.header.commandId] === true) return { events: [], outcome: unchanged }
        return rejected(item.header.commandId, item.header.type, item.code, item.message)
      }
      const message: Message = item.kind === "command" ? item.command : item.result
      const decision = decide(state, message, { now, readinessTimeoutMs: Duration.toMillis(settings.readinessTimeout) })
      if (Either.isLeft(decision)) {
        const commandType = item.kind === "command" ? item.command.type : item.result.type
        const commandId = item.kind === "command" ? item.command.commandId : ""
        return rejected(commandId, commandType, decision.left.code, decision.left.message)
      }
      return { events: decision.right, outcome: (v) => ({ _tag: "Appended", version: v }) }
    }

    const unchanged = (v: number): Outcome => ({ _tag: "Unchanged", version: v })
    const rejected = (commandId: string, commandType: string, code: string, message: string): Decided => ({
      events: [{ type: "CommandRejected", commandId, commandType, code, message }],
      outcome: (v) => ({ _tag: "Rejected", version: v, code, message })
    })

    /** Decide and append; on a version conflict, reload the project and decide again. */
    const handle = (item: Exclude<MailboxItem, { kind: "wake" }>) =>
      Effect.gen(function* () {
        const commandId = item.kind === "step" ? null : item.kind === "command" ? item.command.commandId : item.header.commandId
        for (let attempt = 0; ; attempt++) {
          const now = yield* Clock.currentTimeMillis
          const decided = decideItem(item, now)
          if (decided.events.length === 0) return unchanged(version)
          const appended = yield* store
            .append(projectId, version, { commandId, at: now, events: decided.events })
            .pipe(Effect.retry({ schedule: appendRetry, while: (e) => e._tag === "NatsError" }), Effect.either)
          if (Either.isRight(appended)) {
            version = appended.right
            state = evolveAll(state, decided.events, commandId)
            sinceSnapshot++
            return decided.outcome(version)
          }
          if (appended.left._tag === "NatsError" || attempt >= maxConflictRetries) return yield* appended.left
          yield* Effect.logWarning("version conflict: another writer appended to this project; reloading")
          const reloaded = yield* store.load(projectId)
          state = reloaded.state
          version = reloaded.version
        }
      })

    const process = (item: MailboxItem) =>
      Effect.gen(function* () {
        if (item.kind === "wake") return
        if (item.kind === "step" && item.final) running.delete(item.key)
        const result = yield* handle(item).pipe(Effect.either)
        if (item.kind !== "step") {
          yield* Either.match(result, {
            onLeft: (error) => Deferred.fail(item.reply, new Error(error.message)),
            onRight: (outcome) => Deferred.succeed(item.reply, outcome)
          })
        } else if (Either.isLeft(result)) {
          // The step will be planned again from the unchanged state: its side effect is idempotent.
          yield* Effect.logError("could not record a step result", result.left.message)
          yield* Effect.sleep(Duration.millis(200))
        }
      })

    yield* syncInFlight
    yield* launchDueSteps
    for (;;) {
      const next = yield* Queue.take(mailbox).pipe(Effect.timeout(settings.idleTimeout), Effect.option)
      if (next._tag === "None") {
        if (running.size === 0 && (yield* hooks.tryPassivate)) return
        continue
      }
      yield* process(next.value)
      yield* maybeSnapshot
      yield* syncInFlight
      yield* launchDueSteps
    }
  }).pipe(
    Effect.annotateLogs({ projectId }),
    Effect.withSpan("ProjectActor", { attributes: { projectId } }),
    Effect.scoped
  )
