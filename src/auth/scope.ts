/**
 * Access decisions, pure: a caller (a token's workspace or all workspaces, and its role) against
 * what a request needs. Roles are ordered: `read` (GET only) < `deploy` (create projects, deploy,
 * roll back, promote, cancel) < `admin` (also manage tokens). A workspace-scoped token reaches only
 * its workspace's projects; a token for all workspaces (workspace null) reaches every one.
 */
import { Schema } from "effect"

export const Role = Schema.Literal("read", "deploy", "admin").annotations({
  identifier: "TokenRole",
  description: "read: GET only; deploy: also create projects, deploy, roll back, promote, cancel; admin: also manage tokens"
})
export type Role = typeof Role.Type

const rank: Readonly<Record<Role, number>> = { read: 0, deploy: 1, admin: 2 }

export interface Caller {
  /** The token's id: the `actor` of the commands it sends. */
  readonly tokenId: string
  /** null: every workspace. */
  readonly workspace: string | null
  readonly role: Role
}

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string }

const allowed: Decision = { allowed: true }

export const hasRole = (caller: Caller, needed: Role): boolean => rank[caller.role] >= rank[needed]

export const reachesWorkspace = (caller: Caller, workspace: string): boolean =>
  caller.workspace === null || caller.workspace === workspace

/** The caller may act with `role` (in any workspace it reaches). */
export const decideRole = (caller: Caller, needed: Role): Decision =>
  hasRole(caller, needed)
    ? allowed
    : { allowed: false, reason: `token ${caller.tokenId} has role ${caller.role}; this needs ${needed}` }

/** The caller may act with `role` on something in `workspace`. */
export const decide = (caller: Caller, needed: Role, workspace: string): Decision => {
  const role = decideRole(caller, needed)
  if (!role.allowed) return role
  return reachesWorkspace(caller, workspace)
    ? allowed
    : { allowed: false, reason: `token ${caller.tokenId} is scoped to workspace ${caller.workspace ?? "*"}, not ${workspace}` }
}

/**
 * An admin may hand out at most what it holds: a token for its own workspace (or, when it reaches
 * all workspaces, for any or all), with any role.
 */
export const decideGrant = (caller: Caller, workspace: string | null): Decision => {
  const role = decideRole(caller, "admin")
  if (!role.allowed) return role
  if (caller.workspace === null || caller.workspace === workspace) return allowed
  return { allowed: false, reason: `token ${caller.tokenId} is scoped to workspace ${caller.workspace}; it cannot grant ${workspace ?? "all workspaces"}` }
}
