/**
 * One project's actor: rehydrates from the log, then handles its mailbox one message at a time —
 * decide, append (expected version), evolve — and starts the slow steps the new state asks for in
 * child fibers, which report back through the mailbox. So a deployment in progress never blocks a
 * decision. Route-table writes are the exception: they are quick, and the actor makes them itself so
 * that every write is derived from the latest state and they happen in decision order.
 * It never writes state anywhere but the log.
 */
import { Clock, Deferred, Duration, Effect, Either, Fiber, Option, Queue, Schedule } from "effect"
import type { OrchestratorSettings } from "../config.js"
import { Krane } from "../adapters/krane/Krane.js"
import { RoutingService } from "../adapters/routing/RoutingService.js"
import type { Promote, Rollback } from "../domain/commands.js"
import { HostnameClaims } from "../adapters/claims/HostnameClaims.js"
import { hostnamesToClaim, hostnameTakenMessage } from "../domain/claims.js"
import { decide, type Message, type Rejection } from "../domain/decide.js"
import type { ProjectEvent } from "../domain/events.js"
import type { RouteTable } from "../domain/routes.js"
import { evolveAll, routesHeldBy, wasHandled, type ProjectState } from "../domain/state.js"
import { kraneDeploymentId } from "../domain/kraneIds.js"
import { hasWorkInFlight, kraneIdOf, nextSteps, stepKey, type Step } from "../domain/steps.js"
import type { StepResult } from "../domain/stepResults.js"
import { planPromote, planRollback, switchEvents } from "../domain/switches.js"
import { EventStore } from "../eventstore/EventStore.js"
import { retryAfterFailure } from "../shared/retry.js"
import { ActorUnavailable, type MailboxItem, type Outcome } from "./mailbox.js"
import { makeRetiredDeployments } from "./retiredDeployments.js"
import { retryFor, runStep, type Report, type StepRequirements } from "./StepRunner.js"

export interface ActorHooks {
  /** Records whether the project has work in flight, so a new process knows whom to resume. */
  readonly markInFlight: (projectId: string, inFlight: boolean) => Effect.Effect<void>
  /** Asks the system to retire this idle actor; false when a message is on its way. */
  readonly tryPassivate: Effect.Effect<boolean>
  /** The project's log loaded (and decoded): lifts a quarantine, if any. */
  readonly onLoaded: Effect.Effect<void>
}

const maxConflictRetries = 5
const appendRetry = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(4)))
/** Steps that only read: safe to interrupt when their deployment is cancelled. */
const interruptibleKinds: ReadonlyArray<Step["kind"]> = ["await-instances", "scrape-openapi"]
const instanceCheckTimeout = Duration.seconds(5)

type Work = Exclude<MailboxItem, { kind: "wake" }>
type Decided = { readonly events: ReadonlyArray<ProjectEvent>; readonly outcome: (version: number) => Outcome }

export const runProjectActor = (
  projectId: string,
  mailbox: Queue.Queue<MailboxItem>,
  settings: OrchestratorSettings,
  hooks: ActorHooks
) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const routing = yield* RoutingService
    const krane = yield* Krane
    const claims = yield* HostnameClaims
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
    let sinceSnapshot = loaded.envelopesSinceSnapshot
    let inFlightMarked: boolean | undefined
    const running = new Map<string, { readonly step: Step; readonly fiber: Fiber.RuntimeFiber<void> }>()
    /** Hostnames this actor has claimed for its project (or found it holds). */
    const claimed = new Set<string>()
    yield* Effect.logDebug("actor started").pipe(Effect.annotateLogs({ version }))

    const report =
      (key: string): Report =>
      (result, final) =>
        Queue.offer(mailbox, { kind: "step", key, final, result }).pipe(Effect.asVoid)

    const busy = (deploymentId: string) => [...running.values()].some((entry) => entry.step.deploymentId === deploymentId)

    // Route writes are made inline (see routeInline); a compensation waits for the step in flight to
    // reach its boundary, so it never races a Krane create.
    const launchable = (step: Step) =>
      step.kind !== "assign-domains" && !running.has(stepKey(step)) && !(step.kind === "compensate" && busy(step.deploymentId))

    const launchDueSteps = Effect.gen(function* () {
      for (const step of nextSteps(state)) {
        if (!launchable(step)) continue
        const key = stepKey(step)
        const replicas = state.deployments[step.deploymentId]?.replicas ?? 1
        const fiber = yield* runStep(step, { projectId, settings, replicas }, report(key)).pipe(
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
        running.set(key, { step, fiber })
      }
    })

    /** A cancelled deployment's read-only steps stop now; a Krane create finishes first. */
    const stoppable = (step: Step) => {
      const deployment = state.deployments[step.deploymentId]
      const finished = deployment === undefined || deployment.status === "cancelled" || deployment.status === "failed"
      return finished && interruptibleKinds.includes(step.kind)
    }

    const stopStepsOfFinished = Effect.gen(function* () {
      for (const [key, entry] of running) {
        if (stoppable(entry.step)) {
          running.delete(key)
          yield* Fiber.interrupt(entry.fiber)
        }
      }
    })

    const syncInFlight = Effect.gen(function* () {
      const inFlight = hasWorkInFlight(state)
      if (inFlight !== inFlightMarked) {
        yield* hooks.markInFlight(projectId, inFlight)
        inFlightMarked = inFlight
      }
    })

    const retired = makeRetiredDeployments(projectId, store, settings)

    const maybeSnapshot = Effect.gen(function* () {
      if (sinceSnapshot < settings.snapshotEvery) return
      state = yield* retired.retireFinished(state, version, busy)
      // Written, skipped (too large) or failed: the next try is snapshotEvery envelopes later either
      // way, never on every message (a snapshot only saves replay time).
      yield* store.saveSnapshot(projectId, version, state).pipe(
        Effect.catchAll((error) => Effect.logWarning("snapshot failed; trying again after the next envelopes", error.message)),
        Effect.ensuring(Effect.sync(() => (sinceSnapshot = 0)))
      )
    })

    const writeRoutes = (table: RouteTable) =>
      Effect.flatMap(retired.withRetired(state, table), (whole) => routing.writeTable(whole, version)).pipe(
        (self) => retryAfterFailure(self, { schedule: retryFor(settings, "assign-domains"), while: (error) => error._tag === "RoutingUnavailable" }),
        Effect.mapError((error) =>
          error._tag === "StaleRouteTable"
            ? `the route table was written by a newer decision (version ${error.storedVersion})`
            : error.message
        ),
        Effect.either
      )

    const unchanged = (v: number): Outcome => ({ _tag: "Unchanged", version: v })
    const accepted = (events: ReadonlyArray<ProjectEvent>): Decided => ({ events, outcome: (v) => ({ _tag: "Appended", version: v }) })
    const rejected = (commandId: string, commandType: string, code: string, message: string): Decided => ({
      events: [{ type: "CommandRejected", commandId, commandType, code, message }],
      outcome: (v) => ({ _tag: "Rejected", version: v, code, message })
    })
    const rejection = (commandId: string, commandType: string, error: Rejection) =>
      rejected(commandId, commandType, error.code, error.message)

    /** Running instances of a switch target, as Krane reports them now (recorded ones if it cannot say). */
    const runningInstancesOf = (deploymentId: string) =>
      Effect.gen(function* () {
        const recorded = state.deployments[deploymentId]
        const namespace = recorded?.kraneNamespace ?? state.project?.workspace ?? ""
        const fallback = recorded?.instances.filter((i) => i.status === "RUNNING").length ?? 0
        const kraneId = recorded === undefined ? kraneDeploymentId(projectId, deploymentId) : kraneIdOf(projectId, recorded)
        return yield* krane.getDeployment(namespace, kraneId).pipe(
          Effect.timeout(instanceCheckTimeout),
          Effect.map((instances) => instances.filter((i) => i.status === "RUNNING").length),
          Effect.catchTag("KraneDeploymentNotFound", () => Effect.succeed(0)),
          Effect.catchAll((error) =>
            Effect.logWarning("could not ask Krane about the target's instances; using the recorded ones", String(error)).pipe(
              Effect.as(fallback)
            )
          )
        )
      })

    /** Rollback and Promote: validate, move the sticky hostnames in one write, then record. */
    const decideSwitch = (command: Rollback | Promote) =>
      Effect.gen(function* () {
        const targetId = command.type === "Rollback" ? command.targetDeploymentId : command.deploymentId
        const runningCount = state.deployments[targetId] === undefined ? 0 : yield* runningInstancesOf(targetId)
        const plan = command.type === "Rollback" ? planRollback(state, command, runningCount) : planPromote(state, command, runningCount)
        if (Either.isLeft(plan)) return rejection(command.commandId, command.type, plan.left)
        if (plan.right._tag === "Confirm") return accepted(switchEvents(plan.right, 0))
        const current = state.routes
        const table: RouteTable = {
          projectId,
          routes: Object.fromEntries(
            Object.entries(current).map(([hostname, route]) => [
              hostname,
              plan.right._tag === "Move" && plan.right.domains.some((d) => d.hostname === hostname)
                ? { ...route, deploymentId: plan.right.targetId }
                : route
            ])
          ),
          upstreams: upstreamsFor(state, [...Object.values(current).map((r) => r.deploymentId), plan.right.targetId])
        }
        const written = yield* writeRoutes(table)
        if (Either.isLeft(written)) {
          // One atomic write: when it fails nothing moved, so there is nothing to undo.
          return rejected(command.commandId, command.type, "routing_failed", `failed to switch domains: ${written.left}`)
        }
        return accepted(switchEvents(plan.right, written.right))
      })

    /** Compensation's last part: release the hostnames the deployment alone held, then record. */
    const decideCompensated = (result: Extract<StepResult, { type: "Compensated" }>, now: number) =>
      Effect.gen(function* () {
        const held = routesHeldBy(state, result.deploymentId)
        if (held.length === 0) return decidedAt(result, now)
        const routes = Object.fromEntries(Object.entries(state.routes).filter(([hostname]) => !held.includes(hostname)))
        const written = yield* writeRoutes({ projectId, routes, upstreams: upstreamsFor(state, Object.values(routes).map((r) => r.deploymentId)) })
        return Either.isRight(written)
          ? decidedAt({ ...result, releasedDomains: held }, now)
          : decidedAt({ ...result, problem: `could not release ${held.join(", ")}: ${written.left}` }, now)
      })

    /**
     * Tenant isolation: the hostnames an accepted CreateProject or Deploy makes the project use are
     * claimed before the decision is recorded; one another project holds turns it into a rejection
     * that names the hostname only. (Claims taken before a rejection stay with the project: claiming
     * again is idempotent.) The claims store away fails the command, which is redelivered.
     */
    const claimHostnames = (commandId: string, commandType: string, decided: Decided) =>
      Effect.gen(function* () {
        // Claims never pass to another project: one this actor made need not be made again.
        const hostnames = hostnamesToClaim(state, decided.events).filter((hostname) => !claimed.has(hostname))
        if (hostnames.length === 0) return decided
        const taken = yield* claims.claim(projectId, hostnames)
        for (const hostname of hostnames) if (!taken.includes(hostname)) claimed.add(hostname)
        return taken.length === 0 ? decided : rejected(commandId, commandType, "hostname_taken", hostnameTakenMessage(taken))
      })

    const decideWork = (item: Work, now: number) => {
      if (item.kind === "invalid") {
        if (wasHandled(state, item.header.commandId)) return Effect.succeed<Decided>({ events: [], outcome: unchanged })
        return Effect.succeed(rejected(item.header.commandId, item.header.type, item.code, item.message))
      }
      if (item.kind === "step") {
        if (item.result.type === "Compensated") return decideCompensated(item.result, now)
        return Effect.succeed(decidedAt(item.result, now))
      }
      const command = item.command
      if (wasHandled(state, command.commandId)) return Effect.succeed<Decided>({ events: [], outcome: unchanged })
      return Effect.flatMap(retired.reinstateNamed(state, command), (reinstated) => {
        state = reinstated
        if (command.type === "Rollback" || command.type === "Promote") return decideSwitch(command)
        return claimHostnames(command.commandId, command.type, decidedAt(command, now, command.commandId))
      })
    }

    const decidedAt = (message: Message, now: number, commandId = ""): Decided =>
      Either.match(decide(state, message, {
        now,
        readinessTimeoutMs: Duration.toMillis(settings.readinessTimeout),
        apexDomains: settings.apexDomains
      }), {
        onLeft: (error) => rejection(commandId, message.type, error),
        onRight: accepted
      })

    /** Decide and append; on a version conflict, reload the project and decide again. */
    const handle = (item: Work) =>
      Effect.gen(function* () {
        const commandId = item.kind === "step" ? null : item.kind === "command" ? item.command.commandId : item.header.commandId
        const actor = item.kind === "step" ? undefined : item.actor
        for (let attempt = 0; ; attempt++) {
          const now = yield* Clock.currentTimeMillis
          const outcome = yield* decideWork(item, now)
          if (outcome.events.length === 0) return unchanged(version)
          const appended = yield* store
            .append(projectId, version, { commandId, at: now, ...(actor === undefined ? {} : { actor }), events: outcome.events })
            .pipe((self) => retryAfterFailure(self, { schedule: appendRetry, while: (e) => e._tag === "NatsError" }), Effect.either)
          if (Either.isRight(appended)) {
            version = appended.right
            state = evolveAll(state, outcome.events, commandId)
            sinceSnapshot++
            return outcome.outcome(version)
          }
          if (appended.left._tag === "NatsError" || attempt >= maxConflictRetries) return yield* appended.left
          yield* Effect.logWarning("version conflict: another writer appended to this project; reloading")
          const reloaded = yield* store.load(projectId)
          state = reloaded.state
          version = reloaded.version
        }
      })

    /** Assigns the domains of every deployment whose turn it is, one route write at a time. */
    const routeInline = Effect.gen(function* () {
      for (;;) {
        const step = nextSteps(state).find((s): s is Extract<Step, { kind: "assign-domains" }> => s.kind === "assign-domains")
        if (step === undefined) return
        const written = yield* writeRoutes(step.table)
        const result: StepResult = Either.isRight(written)
          ? { type: "RoutesWritten", deploymentId: step.deploymentId, domains: step.assign, withheld: step.withheld, routeRevision: written.right }
          : { type: "StepFailed", deploymentId: step.deploymentId, step: "assign-domains", reason: `failed to assign domains: ${written.left}` }
        const recorded = yield* handle({ kind: "step", key: stepKey(step), final: true, result }).pipe(Effect.either)
        if (Either.isLeft(recorded)) {
          yield* Effect.logError("could not record the route assignment; will retry", recorded.left.message)
          return yield* Effect.sleep(Duration.millis(200))
        }
      }
    })

    const process = (item: MailboxItem) =>
      Effect.gen(function* () {
        if (item.kind === "wake") return
        if (item.kind === "step" && item.final) running.delete(item.key)
        const result = yield* handle(item).pipe(Effect.either)
        // A reload met an envelope it cannot decode: the actor stops and its project is quarantined.
        const corrupt = Either.isLeft(result) && result.left._tag === "CorruptEvent" ? result.left : undefined
        if (item.kind !== "step") {
          yield* Either.match(result, {
            onLeft: (error) => Deferred.fail(item.reply, corrupt ?? new Error(error.message)),
            onRight: (outcome) => Deferred.succeed(item.reply, outcome)
          })
        }
        if (corrupt !== undefined) return yield* corrupt
        if (item.kind === "step" && Either.isLeft(result)) {
          // The step will be planned again from the unchanged state: its side effect is idempotent.
          yield* Effect.logError("could not record a step result", result.left.message)
          yield* Effect.sleep(Duration.millis(200))
        }
      })

    const everyFollowUp = Effect.gen(function* () {
      yield* routeInline
      yield* stopStepsOfFinished
      yield* maybeSnapshot
      yield* syncInFlight
      yield* launchDueSteps
    })

    /**
     * The follow-ups a message calls for. Checked in plain code first: in a deploy storm most messages
     * need one step launched and nothing else, and every effect run on this path showed in the profile.
     */
    const afterEachMessage = Effect.suspend(() => {
      const due = nextSteps(state)
      // A route write or a stopped step changes what is due next: then the full sequence, in order.
      if (due.some((step) => step.kind === "assign-domains")) return everyFollowUp
      if ([...running.values()].some((entry) => stoppable(entry.step))) return everyFollowUp
      const followUps: Array<Effect.Effect<void, never, StepRequirements>> = []
      if (sinceSnapshot >= settings.snapshotEvery) followUps.push(maybeSnapshot)
      if (hasWorkInFlight(state) !== inFlightMarked) followUps.push(syncInFlight)
      if (due.some(launchable)) followUps.push(launchDueSteps)
      return followUps.length === 0 ? Effect.void : Effect.all(followUps, { discard: true })
    })

    // The idle timeout is read at each wait, so a changed setting applies to actors already running.
    const takeOrIdle = Effect.suspend(() => Queue.take(mailbox).pipe(Effect.timeout(settings.idleTimeout), Effect.option))
    yield* afterEachMessage
    for (;;) {
      // With a step in flight the actor cannot retire, and the step will report: a plain take then.
      // (A timeout races two extra fibers per message, which a deploy storm's profile showed.)
      const next = running.size > 0 ? Option.some(yield* Queue.take(mailbox)) : yield* takeOrIdle
      if (next._tag === "None") {
        if (running.size === 0 && (yield* hooks.tryPassivate)) return
        continue
      }
      yield* process(next.value)
      yield* afterEachMessage
    }
  }).pipe(Effect.annotateLogs({ projectId }), Effect.withSpan("ProjectActor", { captureStackTrace: false, attributes: { projectId } }), Effect.scoped)

/** deploymentId -> addresses of its running instances, for every deployment a route points at. */
const upstreamsFor = (state: ProjectState, deploymentIds: ReadonlyArray<string>) =>
  Object.fromEntries(
    [...new Set(deploymentIds)].flatMap((id) => {
      const deployment = state.deployments[id]
      if (deployment === undefined) return []
      return [[id, deployment.instances.filter((i) => i.status === "RUNNING").map((i) => i.address)] as const]
    })
  )
