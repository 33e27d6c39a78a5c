/**
 * The archive's storage (Archive.ts `ArchiveBucket`) in KV `berth_archive`:
 * - `<projectId>.<deploymentId>` -> one retired deployment (ids are tokens, [A-Za-z0-9_-], so the key
 *   needs no encoding; retirement keeps any other id hot);
 * - `<projectId>` -> the routes of the project's retired deployments (RetiredRoutes).
 * Written before the snapshot that drops what it holds; read only on demand (a command naming a
 * retired deployment, the first whole route-table write of an actor). Like a snapshot it is derived
 * from the log, and the archive port rebuilds what is missing from it by replaying the log.
 * Entries are our own JSON, so a format check stands in for a full Schema decode.
 */
import { Kvm, type KV } from "@nats-io/kv"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import type { RetiredRoutes } from "../domain/retirement.js"
import type { DeploymentState } from "../domain/state.js"
import type { ArchiveBucket } from "./Archive.js"
import { NatsError } from "../nats/Nats.js"
import { buckets } from "../nats/subjects.js"

/** Bumped when DeploymentState or RetiredRoutes change shape: older entries then read as missing. */
const archiveFormat = 1
const maxCasAttempts = 5
const putConcurrency = 64

export const deploymentKey = (projectId: string, deploymentId: string): string => `${projectId}.${deploymentId}`

const parse = <A>(text: string, field: "deployment" | "routes"): A | undefined => {
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value !== "object" || value === null) return undefined
    const record = value as { readonly format?: unknown } & Record<string, unknown>
    return record.format === archiveFormat && typeof record[field] === "object" && record[field] !== null ? (record[field] as A) : undefined
  } catch {
    return undefined
  }
}

export const makeKvArchiveBucket = (nc: NatsConnection, replicas = 1) =>
  Effect.gen(function* () {
    const kv: KV = yield* Effect.tryPromise({
      try: () => new Kvm(nc).create(buckets.archive, { history: 1, replicas }),
      catch: (cause) => new NatsError({ operation: "open archive bucket", cause })
    })

    const read = (key: string) =>
      Effect.tryPromise({
        try: () => kv.get(key),
        catch: (cause) => new NatsError({ operation: "read archive", cause })
      }).pipe(Effect.map((entry) => (entry === null || entry.operation !== "PUT" ? undefined : entry)))

    const putDeployments: ArchiveBucket["putDeployments"] = (projectId, deployments) =>
      Effect.forEach(
        deployments,
        (deployment) =>
          Effect.tryPromise({
            try: () => kv.put(deploymentKey(projectId, deployment.id), JSON.stringify({ format: archiveFormat, deployment })),
            catch: (cause) => new NatsError({ operation: "write archive", cause })
          }),
        { concurrency: putConcurrency, discard: true }
      )

    const getDeployments: ArchiveBucket["getDeployments"] = (projectId, ids) =>
      Effect.forEach(ids, (id) => read(deploymentKey(projectId, id)), { concurrency: putConcurrency }).pipe(
        Effect.map((entries) =>
          entries.flatMap((entry) => {
            const deployment = entry === undefined ? undefined : parse<DeploymentState>(entry.string(), "deployment")
            return deployment === undefined ? [] : [deployment]
          })
        )
      )

    const getRoutes: ArchiveBucket["getRoutes"] = (projectId) =>
      read(projectId).pipe(Effect.map((entry) => (entry === undefined ? undefined : parse<RetiredRoutes>(entry.string(), "routes"))))

    const updateOnce = (projectId: string, update: (current: RetiredRoutes | undefined) => RetiredRoutes | null) =>
      Effect.gen(function* () {
        const entry = yield* read(projectId)
        const current = entry === undefined ? undefined : parse<RetiredRoutes>(entry.string(), "routes")
        const next = update(current)
        if (next === null) return null
        const value = JSON.stringify({ format: archiveFormat, routes: next })
        yield* Effect.tryPromise({
          try: () => (entry === undefined ? kv.create(projectId, value) : kv.update(projectId, value, entry.revision)),
          catch: (cause) => new NatsError({ operation: "write retired routes", cause })
        })
        return next
      })

    const updateRoutes: ArchiveBucket["updateRoutes"] = (projectId, update) =>
      updateOnce(projectId, update).pipe(Effect.retry({ times: maxCasAttempts - 1 }))

    return { putDeployments, getDeployments, getRoutes, updateRoutes } satisfies ArchiveBucket
  })
