/**
 * The EventStore and Archive ports in memory, for fast unit tests of what sits on them (conflict
 * retry, resume, passivation): one log per project with stream-wide sequences as JetStream numbers
 * them, the same optimistic concurrency (an append must name the project's last sequence), snapshots,
 * and the archive logic of Archive.ts over Maps. `rival` appends as another writer would, and
 * `bucket` lets a test lose archive entries.
 */
import { Context, Effect, Layer } from "effect"
import type { EventEnvelope } from "../../domain/events.js"
import type { RetiredRoutes } from "../../domain/retirement.js"
import { evolveEnvelopes, initialState, type DeploymentState, type ProjectState } from "../../domain/state.js"
import { Archive, makeArchive, type ArchiveBucket, type ArchiveService } from "../Archive.js"
import {
  EventStore,
  VersionConflict,
  withReferencedReinstated,
  type EventStoreService,
  type LoadedProject,
  type NewEnvelope
} from "../EventStore.js"

export interface StoredEnvelope {
  readonly seq: number
  readonly envelope: EventEnvelope
}

export interface MemoryEventStore {
  readonly store: EventStoreService
  readonly archive: ArchiveService
  /** The archive's storage: tests delete entries to see them rebuilt from the log. */
  readonly deployments: Map<string, DeploymentState>
  readonly routes: Map<string, RetiredRoutes>
  /** A project's log, oldest first. */
  readonly log: (projectId: string) => ReadonlyArray<StoredEnvelope>
  readonly snapshot: (projectId: string) => { readonly version: number; readonly state: ProjectState } | undefined
  /** Appends as another writer: the next append expecting the old version conflicts. */
  readonly rival: (projectId: string, envelope: NewEnvelope) => number
}

export const makeMemoryEventStore = (): MemoryEventStore => {
  const logs = new Map<string, Array<StoredEnvelope>>()
  const snapshots = new Map<string, { readonly version: number; readonly state: ProjectState }>()
  const deployments = new Map<string, DeploymentState>()
  const routes = new Map<string, RetiredRoutes>()
  let sequence = 0

  const log = (projectId: string): Array<StoredEnvelope> => {
    let entries = logs.get(projectId)
    if (entries === undefined) {
      entries = []
      logs.set(projectId, entries)
    }
    return entries
  }
  const head = (projectId: string): number => log(projectId).at(-1)?.seq ?? 0

  const write = (projectId: string, expectedVersion: number, envelope: NewEnvelope): number => {
    sequence += 1
    log(projectId).push({ seq: sequence, envelope: { v: 1, projectId, previousVersion: expectedVersion, ...envelope } })
    return sequence
  }

  const fold = (projectId: string, fromSnapshot: boolean): LoadedProject => {
    const snapshot = fromSnapshot ? snapshots.get(projectId) : undefined
    const from = snapshot?.version ?? 0
    const after = log(projectId).filter((entry) => entry.seq > from)
    const start = snapshot?.state ?? initialState
    return {
      state: after.length === 0 ? start : evolveEnvelopes(start, after.map((entry) => entry.envelope)),
      version: Math.max(head(projectId), from),
      envelopesSinceSnapshot: after.length
    }
  }

  const key = (projectId: string, deploymentId: string) => `${projectId}.${deploymentId}`
  const bucket: ArchiveBucket = {
    putDeployments: (projectId, list) => Effect.sync(() => list.forEach((d) => deployments.set(key(projectId, d.id), d))),
    getDeployments: (projectId, ids) =>
      Effect.sync(() => ids.flatMap((id) => {
        const deployment = deployments.get(key(projectId, id))
        return deployment === undefined ? [] : [deployment]
      })),
    getRoutes: (projectId) => Effect.sync(() => routes.get(projectId)),
    updateRoutes: (projectId, update) =>
      Effect.sync(() => {
        const next = update(routes.get(projectId))
        if (next !== null) routes.set(projectId, next)
        return next
      })
  }
  const archive = makeArchive(bucket, (projectId) => Effect.sync(() => fold(projectId, false).state))

  const store: EventStoreService = {
    load: (projectId) => Effect.suspend(() => withReferencedReinstated(projectId, fold(projectId, true), archive)),
    append: (projectId, expectedVersion, envelope) =>
      Effect.suspend(() =>
        head(projectId) === expectedVersion
          ? Effect.succeed(write(projectId, expectedVersion, envelope))
          : Effect.fail(new VersionConflict({ projectId, expectedVersion }))
      ),
    saveSnapshot: (projectId, version, state) => Effect.sync(() => void snapshots.set(projectId, { version, state }))
  }

  return {
    store,
    archive,
    deployments,
    routes,
    log: (projectId) => [...log(projectId)],
    snapshot: (projectId) => snapshots.get(projectId),
    rival: (projectId, envelope) => write(projectId, head(projectId), envelope)
  }
}

/** Both ports over one in-memory store (the memory given, or a fresh one). */
export const MemoryEventStoreLayer = (memory: MemoryEventStore = makeMemoryEventStore()): Layer.Layer<EventStore | Archive> =>
  Layer.succeedContext(Context.make(EventStore, memory.store).pipe(Context.add(Archive, memory.archive)))
