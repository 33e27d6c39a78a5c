/**
 * The Archive port: where retired deployments (src/domain/retirement.ts) and their routes go when they
 * leave the hot state, read back on demand. Like a snapshot it is derived from the log: what its
 * storage lacks is rebuilt by replaying the log. `makeArchive` is that logic over any storage
 * (`ArchiveBucket`: KV in production, kvArchiveBucket.ts; a Map in memory/) and any log replay, so
 * both layers behave alike.
 */
import { Context, Effect } from "effect"
import {
  mergeRetiredRoutes,
  noRetiredRoutes,
  rebuildRetiredRoutes,
  type RetiredRoutes,
  type Retirement
} from "../domain/retirement.js"
import type { DeploymentState, ProjectState } from "../domain/state.js"
import type { NatsError } from "../nats/Nats.js"
import type { CorruptEvent } from "./errors.js"

export interface ArchiveService {
  /**
   * Archives what a retirement takes out of `before` (call it before saving the snapshot of
   * `retirement.state`); returns the retired routes when they changed.
   */
  readonly archive: (
    projectId: string,
    before: ProjectState,
    retirement: Retirement
  ) => Effect.Effect<RetiredRoutes | null, NatsError | CorruptEvent>
  /** Retired deployments by id (ids never retired are left out). */
  readonly archived: (
    projectId: string,
    deploymentIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<DeploymentState>, NatsError | CorruptEvent>
  /** The routes of retired deployments that `state` relies on (see withRetiredRoutes). */
  readonly retiredRoutes: (projectId: string, state: ProjectState) => Effect.Effect<RetiredRoutes, NatsError | CorruptEvent>
}

export class Archive extends Context.Tag("berth/Archive")<Archive, ArchiveService>() {}

/** The archive's storage: entries by project, written and read as they are. */
export interface ArchiveBucket {
  readonly putDeployments: (projectId: string, deployments: ReadonlyArray<DeploymentState>) => Effect.Effect<void, NatsError>
  /** The archived deployments among `ids` (missing ones are left out). */
  readonly getDeployments: (projectId: string, ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<DeploymentState>, NatsError>
  /** The project's retired routes, or undefined when there is no (readable) entry. */
  readonly getRoutes: (projectId: string) => Effect.Effect<RetiredRoutes | undefined, NatsError>
  /**
   * Replaces the retired routes with `update(current)`, compare-and-set against a concurrent writer;
   * an update that returns null writes nothing (and null is returned).
   */
  readonly updateRoutes: (
    projectId: string,
    update: (current: RetiredRoutes | undefined) => RetiredRoutes | null
  ) => Effect.Effect<RetiredRoutes | null, NatsError>
}

/** The project's whole log folded from the start (no snapshot): nothing retired. */
export type ReplayLog = (projectId: string) => Effect.Effect<ProjectState, NatsError | CorruptEvent>

export const makeArchive = (bucket: ArchiveBucket, replay: ReplayLog): ArchiveService => {
  const archived = (projectId: string, ids: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      if (ids.length === 0) return []
      const found = yield* bucket.getDeployments(projectId, ids)
      const lacking = ids.filter((id) => !found.some((deployment) => deployment.id === id))
      if (lacking.length === 0) return found
      // A digest hit without an entry: a hash collision (the id is new) or a lost archive entry. Only
      // the log can tell; whatever it has goes back into the archive.
      const full = yield* replay(projectId)
      const recovered = lacking.flatMap((id) => {
        const deployment = full.deployments[id]
        return deployment === undefined ? [] : [deployment]
      })
      if (recovered.length > 0) {
        yield* Effect.logWarning("archived deployments were missing; recovered them from the log").pipe(
          Effect.annotateLogs({ projectId, deploymentIds: recovered.map((d) => d.id).join(",") })
        )
        yield* bucket.putDeployments(projectId, recovered)
      }
      return [...found, ...recovered]
    })

  const retiredRoutes = (projectId: string, state: ProjectState) =>
    Effect.gen(function* () {
      if (state.retired.routesAsOf === 0) return noRetiredRoutes
      const stored = yield* bucket.getRoutes(projectId)
      if (stored !== undefined && stored.asOf >= state.retired.routesAsOf) return stored
      yield* Effect.logWarning("the archive lacks the retired routes; rebuilding them from the log").pipe(
        Effect.annotateLogs({ projectId })
      )
      const full = yield* replay(projectId)
      const rebuilt = rebuildRetiredRoutes(full, state, state.retired.routesAsOf)
      const written = yield* bucket.updateRoutes(projectId, (current) =>
        current !== undefined && current.asOf >= rebuilt.asOf ? null : rebuilt
      )
      return written ?? rebuilt
    })

  const archive = (projectId: string, before: ProjectState, retirement: Retirement) =>
    Effect.gen(function* () {
      yield* bucket.putDeployments(projectId, retirement.retired)
      if (retirement.routes.asOf === 0) return null
      // The stored table, unless it is older than what `before` relies on (then rebuilt from the log).
      const upToDate = (current: RetiredRoutes | undefined): current is RetiredRoutes =>
        current !== undefined && current.asOf >= before.retired.routesAsOf
      const merged = yield* bucket.updateRoutes(projectId, (current) => (upToDate(current) ? mergeRetiredRoutes(current, retirement) : null))
      if (merged !== null) return merged
      const base = yield* retiredRoutes(projectId, before)
      return yield* bucket.updateRoutes(projectId, (current) => mergeRetiredRoutes(upToDate(current) ? current : base, retirement))
    }).pipe(Effect.withSpan("eventstore.archive", { captureStackTrace: false, attributes: { projectId } }))

  return { archive, archived, retiredRoutes }
}
