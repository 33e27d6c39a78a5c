/**
 * One project's actor: rehydrates from the log, then takes its mailbox one message at a time —
 * decide (src/domain/decide.ts), carry out the decision's effects (runDecision), append with the
 * expected version, evolve — and then the follow-ups the new state calls for: the route write of a
 * settled deployment (a plain call, so every write derives from the latest state, in decision order),
 * the slow steps (StepSupervisor: a child fiber per run that reports through the mailbox, so a
 * deployment in progress never blocks a decision) and housekeeping (snapshots, retirement, in-flight
 * markers). A command first records what runs hold back (StepSupervisor.takeUnsent).
 * It never writes state anywhere but the log, and holds no use case of its own.
 */
import { Clock, Deferred, Duration, Effect, Either, Option, Queue, Schedule } from "effect"
import type { OrchestratorSettings } from "../config.js"
import { decide, type Message } from "../domain/decide.js"
import { evolveAll, wasHandled, type ProjectState } from "../domain/state.js"
import type { StepResult } from "../domain/stepResults.js"
import { Archive } from "../eventstore/Archive.js"
import { EventStore } from "../eventstore/EventStore.js"
import { retryAfterFailure } from "../shared/retry.js"
import { makeHousekeeping, type HousekeepingHooks } from "./housekeeping.js"
import { ActorUnavailable, type MailboxItem, type Outcome } from "./mailbox.js"
import { makeRetiredDeployments } from "./retiredDeployments.js"
import { runDecision } from "./runDecision.js"
import { runStep, type StepRequirements } from "./StepRunner.js"
import { makeActorEffects } from "./actorEffects.js"
import { isInline, makeDueSteps, makeStepSupervisor } from "./StepSupervisor.js"

export interface ActorHooks extends HousekeepingHooks {
  /** Parked on an empty mailbox with no step in flight: the system may passivate it (ActorRegistry). */
  readonly idle: () => void
  /** The project's log loaded (and decoded): lifts a quarantine, if any. */
  readonly onLoaded: Effect.Effect<void>
  /** Whether this process may still decide for the project (its partition's lease, src/partitions/); always without. */
  readonly ownership?: { readonly mayDecide: () => boolean; readonly notOwned: () => ActorUnavailable }
}

const maxConflictRetries = 5
const appendRetry = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(4)))

/** A mailbox item the decider answers. */
type Decidable = Exclude<MailboxItem, { kind: "wake" | "stop" }>

/** What a mailbox item asks the decider. */
const messageOf = (item: Decidable): Message =>
  item.kind === "command"
    ? item.command
    : item.kind === "invalid"
      ? { type: "InvalidCommand", commandId: item.header.commandId, commandType: item.header.type, code: item.code, message: item.message }
      : item.results.length === 1 && item.results[0] !== undefined
        ? item.results[0]
        : { type: "StepResults", results: item.results }

const commandIdOf = (message: Message): string | null => ("commandId" in message ? message.commandId : null)

export const runProjectActor = (
  projectId: string,
  mailbox: Queue.Queue<MailboxItem>,
  settings: OrchestratorSettings,
  hooks: ActorHooks
) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const archive = yield* Archive
    const scope = yield* Effect.scope
    // A load that does not finish fails the start: the commands waiting are redelivered later.
    const loaded = yield* store.load(projectId).pipe(
      Effect.timeoutFail({
        duration: settings.actorLoadTimeout,
        onTimeout: () =>
          new ActorUnavailable({
            projectId,
            message: `loading project ${projectId} took longer than ${Duration.format(settings.actorLoadTimeout)}`
          })
      })
    )
    yield* hooks.onLoaded
    let state: ProjectState = loaded.state
    let version = loaded.version
    yield* Effect.logDebug("actor started").pipe(Effect.annotateLogs({ version }))

    const retired = makeRetiredDeployments(projectId, archive, settings)
    const housekeeping = makeHousekeeping(projectId, store, settings, retired, hooks, loaded.envelopesSinceSnapshot)

    const { writeRoutes, claim, inputsOf } = yield* makeActorEffects(projectId, settings, retired, {
      state: () => state,
      version: () => version
    })
    const steps = makeStepSupervisor(projectId, settings, scope, mailbox, () => state, { writeRoutes })
    const dueSteps = makeDueSteps()

    /** A command naming retired deployments is decided as if they never left. */
    const prepare = (message: Message) =>
      message.type === "InvalidCommand" || !("commandId" in message) || wasHandled(state, message.commandId)
        ? Effect.void
        : Effect.map(retired.reinstateNamed(state, message), (reinstated) => {
            state = reinstated
          })

    /** Checked before every decision and append: a process that lost the partition stops deciding at once. */
    const mayDecide = () => hooks.ownership === undefined || hooks.ownership.mayDecide()
    const stillOwned = Effect.suspend(() =>
      hooks.ownership === undefined || hooks.ownership.mayDecide() ? Effect.void : Effect.fail(hooks.ownership.notOwned())
    )

    /** Decide, carry out, append; on a version conflict, reload the project and decide again. */
    const handle = (message: Message, actor: string | undefined) =>
      Effect.gen(function* () {
        const commandId = commandIdOf(message)
        for (let attempt = 0; ; attempt++) {
          yield* stillOwned
          const now = yield* Clock.currentTimeMillis
          yield* prepare(message)
          const inputs = yield* inputsOf(message, now)
          const recorded = yield* runDecision(decide(state, message, inputs), { writeRoutes, claim })
          if (recorded.events.length === 0) return { _tag: "Unchanged", version } satisfies Outcome
          yield* stillOwned
          const appended = yield* store
            .append(projectId, version, { commandId, at: now, ...(actor === undefined ? {} : { actor }), events: recorded.events })
            .pipe((self) => retryAfterFailure(self, { schedule: appendRetry, while: (e) => e._tag === "NatsError" }), Effect.either)
          if (Either.isRight(appended)) {
            version = appended.right
            state = evolveAll(state, recorded.events, commandId)
            housekeeping.appended()
            const outcome: Outcome =
              recorded.rejection === undefined
                ? { _tag: "Appended", version }
                : { _tag: "Rejected", version, code: recorded.rejection.code, message: recorded.rejection.message }
            return outcome
          }
          if (appended.left._tag === "NatsError" || attempt >= maxConflictRetries) return yield* appended.left
          yield* Effect.logWarning("version conflict: another writer appended to this project; reloading")
          const reloaded = yield* store.load(projectId)
          state = reloaded.state
          version = reloaded.version
        }
      })

    /** The route writes due, one at a time, each result decided before the next write. */
    const routeInline = Effect.gen(function* () {
      for (;;) {
        const step = dueSteps(state).find(isInline)
        if (step === undefined || !mayDecide()) return
        let result: StepResult | undefined
        yield* runStep(step, { projectId, settings, replicas: 0, writeRoutes }, (reported) => Effect.sync(() => void (result = reported)))
        if (result === undefined) return
        const recorded = yield* handle(result, undefined).pipe(Effect.either)
        if (Either.isLeft(recorded)) {
          yield* Effect.logError("could not record the route assignment; will retry", recorded.left.message)
          return yield* Effect.sleep(Duration.millis(200))
        }
      }
    })

    /**
     * The follow-ups of a message, in order, each checked in plain code against the state as the
     * ones before left it: in a deploy storm most messages need one step launched and nothing else.
     * The snapshot comes last, so the steps it would otherwise hold up are already on their way.
     */
    const followUps: ReadonlyArray<{ readonly needed: () => boolean; readonly run: Effect.Effect<void, never, StepRequirements> }> = [
      { needed: () => dueSteps(state).some(isInline), run: routeInline },
      { needed: () => steps.hasStoppable(state), run: Effect.suspend(() => steps.stopFinished(state)) },
      { needed: () => housekeeping.inFlightChanged(state), run: Effect.suspend(() => housekeeping.markInFlight(state)) },
      { needed: () => steps.hasLaunchable(dueSteps(state)), run: Effect.suspend(() => steps.launch(state, dueSteps(state))) },
      {
        needed: housekeeping.snapshotDue,
        run: Effect.suspend(() => housekeeping.snapshot(state, version, steps.busy)).pipe(Effect.map((hot) => void (state = hot)))
      }
    ]
    const followUpsFrom = (first: number): Effect.Effect<void, never, StepRequirements> =>
      Effect.suspend(() => {
        for (let i = first; i < followUps.length; i++) {
          const followUp = followUps[i]
          if (followUp !== undefined && followUp.needed()) return Effect.zipRight(followUp.run, followUpsFrom(i + 1))
        }
        return Effect.void
      })
    const afterEachMessage = followUpsFrom(0)

    /** A step's results: a failure to record them is logged (they are due again: their steps are idempotent). */
    const recordResults = (message: Message) =>
      Effect.gen(function* () {
        const result = yield* handle(message, undefined).pipe(Effect.either)
        if (Either.isRight(result)) return
        // A reload met an envelope it cannot decode: the actor stops and its project is quarantined.
        if (result.left._tag === "CorruptEvent") return yield* result.left
        yield* Effect.logError("could not record a step result", result.left.message)
        yield* Effect.sleep(Duration.millis(200))
      })

    const process = (item: Decidable) =>
      Effect.gen(function* () {
        if (item.kind === "step") {
          if (item.final) steps.finished(item.deploymentId, item.run)
          return yield* recordResults(messageOf(item))
        }
        // What runs still hold back is decided first: the command sees every result reported before it.
        const held = steps.takeUnsent()
        if (held.length > 0) {
          const flushed = yield* Effect.either(recordResults({ type: "StepResults", results: held }))
          if (Either.isLeft(flushed)) {
            yield* Deferred.fail(item.reply, flushed.left)
            return yield* flushed.left
          }
        }
        const result = yield* handle(messageOf(item), item.actor).pipe(Effect.either)
        const corrupt = Either.isLeft(result) && result.left._tag === "CorruptEvent" ? result.left : undefined
        yield* Either.match(result, {
          onLeft: (error) => Deferred.fail(item.reply, corrupt ?? new Error(error.message)),
          onRight: (outcome) => Deferred.succeed(item.reply, outcome)
        })
        if (corrupt !== undefined) return yield* corrupt
      })

    // A process that lost the project's partition stops here, before any follow-up (steps included).
    yield* stillOwned
    yield* afterEachMessage
    for (;;) {
      // Nothing to do and nothing that will report: the system may passivate the actor from here.
      if (steps.size === 0 && Option.getOrElse(mailbox.unsafeSize(), () => 0) <= 0) hooks.idle()
      const next = yield* Queue.take(mailbox)
      if (next.kind === "stop") return
      // A wake only asks for the follow-ups (resume what is due).
      if (next.kind !== "wake") yield* process(next)
      yield* stillOwned
      yield* afterEachMessage
    }
  }).pipe(Effect.annotateLogs({ projectId }), Effect.withSpan("ProjectActor", { captureStackTrace: false, attributes: { projectId } }), Effect.scoped)
