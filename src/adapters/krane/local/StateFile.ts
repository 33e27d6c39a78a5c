/**
 * krane-local's memory across its own restarts: `<dataDir>/state.json`, rewritten atomically
 * (write to a temp file, then rename) on every change. Records each deployment's spec and whether
 * it is being deleted, and each instance's port and, while one runs, its process (pid, start time).
 * `token` tells this data dir's processes apart from any other krane-local's (see ProcTable).
 * Owner-only (0600): it holds every deployment's env.
 */
import { randomUUID } from "node:crypto"
import { chmodSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Either, Option, Schema } from "effect"
import { describeCause, KraneLocalError } from "./KraneLocalError.js"

const InstanceRecord = Schema.Struct({
  id: Schema.String,
  port: Schema.Int,
  /** null: no process runs (stopped cleanly, or between restarts). */
  pid: Schema.NullOr(Schema.Int),
  startedAt: Schema.NullOr(Schema.String),
  restarts: Schema.Int
})
export type InstanceRecord = typeof InstanceRecord.Type

const DeploymentRecord = Schema.Struct({
  namespace: Schema.String,
  deploymentId: Schema.String,
  command: Schema.NonEmptyArray(Schema.String),
  env: Schema.Record({ key: Schema.String, value: Schema.String }),
  replicas: Schema.Int,
  /** Recorded by releases that ran instances in a shared directory; read and ignored. */
  cwd: Schema.optional(Schema.String),
  /** Deletion began: the next start finishes it rather than bringing the deployment back. */
  deleting: Schema.Boolean,
  instances: Schema.Array(InstanceRecord)
})
export type DeploymentRecord = typeof DeploymentRecord.Type

const KraneLocalState = Schema.Struct({
  version: Schema.Literal(1),
  token: Schema.String,
  deployments: Schema.Array(DeploymentRecord)
})
export type KraneLocalState = typeof KraneLocalState.Type

const decodeState = Schema.decodeUnknownEither(Schema.parseJson(KraneLocalState))

export const stateFileOf = (dataDir: string) => join(dataDir, "state.json")

/** A fresh state: nothing recorded, a new token. */
export const emptyState = (): KraneLocalState => ({ version: 1, token: randomUUID().slice(0, 8), deployments: [] })

/**
 * The recorded state; empty when there is none. An unreadable one is set aside (state.json.unreadable-<time>)
 * with an error logged: krane-local still starts, it just cannot adopt what that file described.
 */
export const loadState = (dataDir: string): Effect.Effect<KraneLocalState> =>
  Effect.gen(function* () {
    const file = stateFileOf(dataDir)
    let text: string
    try {
      text = readFileSync(file, "utf8")
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return emptyState()
      return yield* setAside(file, describeCause(error))
    }
    const decoded = decodeState(text)
    return Either.isRight(decoded) ? decoded.right : yield* setAside(file, decoded.left.message)
  })

const setAside = (file: string, why: string): Effect.Effect<KraneLocalState> =>
  Effect.gen(function* () {
    const aside = `${file}.unreadable-${Date.now()}`
    const moved = Option.liftThrowable(() => renameSync(file, aside))()
    yield* Effect.logError(
      `krane-local: cannot read ${file} (${why}); ${Option.isSome(moved) ? `moved it to ${aside} and ` : ""}starting with no recorded deployments`
    )
    return emptyState()
  })

/** Writes the whole state atomically: readers (and a crash) see the old file or the new one, never half. */
export const saveState = (dataDir: string, state: KraneLocalState): Effect.Effect<void, KraneLocalError> =>
  Effect.try({
    try: () => {
      const file = stateFileOf(dataDir)
      const temp = `${file}.tmp-${process.pid}`
      writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
      // The mode above applies only to a new file; a temp file left by a crash keeps its own.
      chmodSync(temp, 0o600)
      renameSync(temp, file)
    },
    catch: (cause) => new KraneLocalError({ message: `cannot write ${stateFileOf(dataDir)}: ${describeCause(cause)}` })
  })
