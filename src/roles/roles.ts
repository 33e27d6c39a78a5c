/**
 * Berth's roles: the parts that run as separate processes and fail alone. `npm start` runs all of
 * them under one supervisor; `berth up --roles orchestrator,projector` (or BERTH_ROLES) a subset.
 * krane-local is a role of the local setup only: the supervisor adds it when the orchestrator runs
 * and no KRANE_URL is given.
 */
import { Either } from "effect"

export const berthRoles = ["orchestrator", "projector", "api", "gateway"] as const
export type BerthRole = (typeof berthRoles)[number]

/** Every process the supervisor may run (`orchestrator-2`: one of several of a role, src/roles/cluster.ts). */
export type SupervisedRole = BerthRole | "krane-local" | `${BerthRole}-${number}`

const isRole = (name: string): name is BerthRole => (berthRoles as ReadonlyArray<string>).includes(name)

/** "orchestrator,projector" -> the roles, in Berth's order; "all" or "" -> every role. */
export const parseRoles = (text: string): Either.Either<ReadonlyArray<BerthRole>, string> => {
  const names = text.split(",").map((name) => name.trim()).filter((name) => name !== "")
  if (names.length === 0 || (names.length === 1 && names[0] === "all")) return Either.right(berthRoles)
  const unknown = names.filter((name) => !isRole(name))
  if (unknown.length > 0) {
    return Either.left(`unknown role ${unknown.join(", ")} (roles: ${berthRoles.join(", ")}, or all)`)
  }
  return Either.right(berthRoles.filter((role) => names.includes(role)))
}

/** What each role connects to: the orchestrator never needs PostgreSQL. */
export const needsDatabase = (roles: ReadonlyArray<BerthRole>): boolean => roles.includes("projector") || roles.includes("api")
export const needsKrane = (roles: ReadonlyArray<BerthRole>): boolean => roles.includes("orchestrator")

/** What a role process tells its supervisor (over the IPC channel) once it serves. */
export interface RoleReady {
  readonly type: "ready"
  readonly role: BerthRole
  readonly url?: string
  /** The orchestrator: whether it runs partitioned (src/partitions/), for the start banner. */
  readonly partitions?: string
}

/** Exit code of a role that cannot start because of its configuration: the supervisor does not restart it. */
export const configurationExitCode = 78
