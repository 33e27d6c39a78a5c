/**
 * OS users for the processes Berth starts on this machine: when Berth runs as root, PostgreSQL runs
 * as `postgres` and krane-local's instances as an unprivileged user (nobody by default), never as
 * root. Looks users up in /etc/passwd and opens the way (o+x) through the directories above a dir
 * such a user must reach.
 */
import { chmodSync, readFileSync, statSync } from "node:fs"
import { dirname } from "node:path"
import { Data, Effect } from "effect"

export class OsUserError extends Data.TaggedError("OsUserError")<{ readonly message: string }> {}

export interface OsUser {
  readonly name: string
  readonly uid: number
  readonly gid: number
}

export const isRoot = (): boolean => process.getuid?.() === 0

/** The user's uid and primary gid from /etc/passwd; undefined when there is no such user (or no /etc/passwd). */
export const lookupOsUser = (name: string): OsUser | undefined => {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [user, , uid, gid] = line.split(":")
      if (user === name && uid !== undefined && gid !== undefined) return { name, uid: Number(uid), gid: Number(gid) }
    }
  } catch {
    // no /etc/passwd
  }
  return undefined
}

/**
 * Adds o+x (search, not read) to every directory from `dir` up to / that `user` does not own and
 * cannot traverse, so it can reach what lies below; logs each change.
 */
export const makeTraversable = (dir: string, user: OsUser): Effect.Effect<void, OsUserError> =>
  Effect.gen(function* () {
    for (let d = dir; ; d = dirname(d)) {
      const current = d
      const st = yield* Effect.try({
        try: () => statSync(current),
        catch: (e) => new OsUserError({ message: `stat ${current}: ${String(e)}` })
      })
      if (st.uid !== user.uid && (st.mode & 0o001) === 0) {
        yield* Effect.logWarning(`making ${d} traversable (o+x) for the ${user.name} user`)
        yield* Effect.try({
          try: () => chmodSync(current, (st.mode & 0o7777) | 0o001),
          catch: (e) => new OsUserError({ message: `chmod ${current}: ${String(e)}` })
        })
      }
      if (dirname(d) === d) break
    }
  })
