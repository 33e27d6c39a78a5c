/**
 * Retirement: finished deployments leave the hot state when a snapshot is written, so a project's
 * snapshot (and every fold after it) stays the size of its recent activity, however old it is. Pure:
 * the actor carries a retirement out (archive entries first, then the snapshot that drops them; a
 * crash in between leaves the old snapshot, which still holds them), and puts a retired deployment
 * back (`reinstate`) before deciding a command that names it, so every decision is the one the full
 * state would make. Rejections keep their messages: a Deploy reusing a retired id is still
 * "deployment already exists".
 *
 * A deployment is retired only when all of these hold:
 * - it is finished: ready, or failed/cancelled and compensated (no step is due for it);
 * - it is not live and holds no live or environment hostname: what Rollback and Promote move and
 *   check (`stickyDomainsOf`, the rolled-back freeze) stays hot;
 * - it is not among the `keep` most recent deployments (a rollback usually targets one of those);
 * - it is older than every deployment still in flight: a late deployment must still see that a newer
 *   one holds a sticky hostname (`planRoutes`), and a retired holder is not there to be asked;
 * - no step of it is still running in the actor (`busy`), so no late result names it;
 * - its id is a token (it becomes part of a KV key).
 * Its remaining hostnames (per-deployment, commit, branch) leave with it into the retired route table,
 * which the actor adds under the hot routes whenever it writes the whole table (`withRetiredRoutes`).
 * (Retiring only deployments that hold no hostname would retire almost nothing: a ready deployment
 * keeps its per-deployment hostname for good, so the routes would still grow with the project's age.)
 * Such a hostname can later only be taken over by a newer deployment (a hot route, which wins), never
 * released: only failed or cancelled deployments are compensated, and those never held a hostname.
 *
 * The hot state keeps a digest of retired ids (`retired.digest`), so a command naming a deployment
 * that is not hot reads the archive only on a digest hit: a Deploy of a new id never does.
 */
import type { Command } from "./commands.js"
import { stableHash } from "./domains.js"
import { runningAddresses, type RouteTable } from "./routes.js"
import { isTerminal, needsCompensation, type DeploymentState, type ProjectState, type RouteEntry } from "./state.js"

/** Routes of retired deployments, kept outside the hot state (one archive entry per project). */
export interface RetiredRoutes {
  /** The version of the last retirement whose routes this table includes; 0 for none. */
  readonly asOf: number
  /** hostname -> its retired holder, as the log had it when the holder retired. */
  readonly routes: Readonly<Record<string, RouteEntry>>
  /** deploymentId -> addresses of its running instances, for the deployments named above. */
  readonly upstreams: Readonly<Record<string, ReadonlyArray<string>>>
}

export const noRetiredRoutes: RetiredRoutes = { asOf: 0, routes: {}, upstreams: {} }

export interface Retirement {
  /** The hot state: what the snapshot keeps. */
  readonly state: ProjectState
  /** The deployments that left it: one archive entry each. */
  readonly retired: ReadonlyArray<DeploymentState>
  /** The routes that left with them (asOf = the retirement's version when there are any). */
  readonly routes: RetiredRoutes
}

export interface RetireOptions {
  /** How many of the most recent deployments always stay hot. */
  readonly keep: number
  /** The project version the retirement happens at. */
  readonly version: number
  /** Deployments with a step still running in the actor. */
  readonly busy: (deploymentId: string) => boolean
}

const token = /^[A-Za-z0-9_-]+$/


/** Splits a state into its hot part and the deployments (with their routes) that can be retired. */
export const retire = (state: ProjectState, options: RetireOptions): Retirement => {
  const deployments = Object.values(state.deployments)
  let lowWater = Number.POSITIVE_INFINITY
  for (const deployment of deployments) {
    if (!isTerminal(deployment.status) || needsCompensation(deployment)) lowWater = Math.min(lowWater, deployment.order)
  }
  const pinned = new Set(
    Object.values(state.routes)
      .filter((route) => route.sticky === "live" || route.sticky === "environment")
      .map((route) => route.deploymentId)
  )
  const retired = deployments.filter(
    (deployment) =>
      isTerminal(deployment.status) &&
      !needsCompensation(deployment) &&
      deployment.id !== state.liveDeploymentId &&
      !pinned.has(deployment.id) &&
      deployment.order <= state.deploymentCount - options.keep &&
      deployment.order < lowWater &&
      !options.busy(deployment.id) &&
      token.test(deployment.id)
  )
  if (retired.length === 0) return { state, retired: [], routes: noRetiredRoutes }

  const leaving = new Set(retired.map((deployment) => deployment.id))
  const hotRoutes: Record<string, RouteEntry> = {}
  const movedRoutes: Record<string, RouteEntry> = {}
  for (const [hostname, route] of Object.entries(state.routes)) {
    if (leaving.has(route.deploymentId)) movedRoutes[hostname] = route
    else hotRoutes[hostname] = route
  }
  const upstreams: Record<string, ReadonlyArray<string>> = {}
  for (const route of Object.values(movedRoutes)) {
    const holder = state.deployments[route.deploymentId]
    if (holder !== undefined) upstreams[holder.id] = runningAddresses(holder)
  }
  const moved = Object.keys(movedRoutes).length > 0
  return {
    state: {
      ...state,
      deployments: Object.fromEntries(deployments.filter((d) => !leaving.has(d.id)).map((d) => [d.id, d])),
      routes: hotRoutes,
      retired: {
        digest: withHashes(state.retired.digest, retired.map((deployment) => stableHash(deployment.id))),
        routesAsOf: moved ? options.version : state.retired.routesAsOf
      }
    },
    retired,
    routes: moved ? { asOf: options.version, routes: movedRoutes, upstreams } : noRetiredRoutes
  }
}

/** Width of one hash in the digest: 2^32 - 1 is "1z141z3" in base 36. */
const hashWidth = 7

const hashesOf = (digest: string): ReadonlyArray<string> =>
  Array.from({ length: digest.length / hashWidth }, (_, i) => digest.slice(i * hashWidth, (i + 1) * hashWidth))

/**
 * The digest with more hashes in it, still sorted and without repeats. Fixed-width, lower-case
 * base 36 sorts as text in numeric order, so comparing the slices as strings is enough.
 */
const withHashes = (digest: string, hashes: ReadonlyArray<string>): string =>
  [...new Set([...hashesOf(digest), ...hashes])].sort().join("")

/** Whether `deploymentId` may have been retired: false proves it never was. */
export const mayBeRetired = (state: ProjectState, deploymentId: string): boolean => {
  const digest = state.retired.digest
  const hash = stableHash(deploymentId)
  let low = 0
  let high = digest.length / hashWidth - 1
  while (low <= high) {
    const middle = (low + high) >>> 1
    const value = digest.slice(middle * hashWidth, (middle + 1) * hashWidth)
    if (value === hash) return true
    if (value < hash) low = middle + 1
    else high = middle - 1
  }
  return false
}

/** The deployments a command names: what must be hot before it is decided. */
export const deploymentsNamedBy = (command: Command): ReadonlyArray<string> => {
  switch (command.type) {
    case "CreateProject":
      return []
    case "Deploy":
    case "CancelDeployment":
    case "Promote":
      return [command.deploymentId]
    case "Rollback":
      return [command.sourceDeploymentId, command.targetDeploymentId]
  }
}

/**
 * Deployments the state refers to but does not hold: the live one and the holders of hot routes.
 * Empty after a retirement; after a replay, events made while a retired deployment was reinstated
 * (a rollback to it) can name it again, and the loader brings it back.
 */
export const missingReferences = (state: ProjectState): ReadonlyArray<string> => {
  const named = new Set(Object.values(state.routes).map((route) => route.deploymentId))
  if (state.liveDeploymentId !== null) named.add(state.liveDeploymentId)
  return [...named].filter((id) => state.deployments[id] === undefined)
}

/** Of `ids`, those not hot that may be in the archive. */
export const toReinstate = (state: ProjectState, ids: ReadonlyArray<string>): ReadonlyArray<string> =>
  [...new Set(ids)].filter((id) => state.deployments[id] === undefined && mayBeRetired(state, id))

/** Puts archived deployments back into the hot state (their order and status as they were). */
export const reinstate = (state: ProjectState, deployments: ReadonlyArray<DeploymentState>): ProjectState => {
  const back = deployments.filter((deployment) => state.deployments[deployment.id] === undefined)
  if (back.length === 0) return state
  return { ...state, deployments: { ...state.deployments, ...Object.fromEntries(back.map((d) => [d.id, d])) } }
}

/**
 * The retired route table after a retirement: the previous one without the hostnames a hot route
 * has since given to another deployment, plus the routes that just left.
 */
export const mergeRetiredRoutes = (previous: RetiredRoutes, retirement: Retirement): RetiredRoutes => {
  const hot = retirement.state.routes
  const routes: Record<string, RouteEntry> = {}
  for (const [hostname, route] of Object.entries(previous.routes)) {
    const current = hot[hostname]
    if (current === undefined || current.deploymentId === route.deploymentId) routes[hostname] = route
  }
  Object.assign(routes, retirement.routes.routes)
  const upstreams: Record<string, ReadonlyArray<string>> = {}
  for (const route of Object.values(routes)) {
    const addresses = retirement.routes.upstreams[route.deploymentId] ?? previous.upstreams[route.deploymentId]
    if (addresses !== undefined) upstreams[route.deploymentId] = addresses
  }
  return { asOf: Math.max(previous.asOf, retirement.routes.asOf), routes, upstreams }
}

/**
 * The whole route table: the hot table (derived from the hot state) over the retired routes. A hot
 * route wins; a deployment's upstreams come from the hot table when it has them.
 */
export const withRetiredRoutes = (table: RouteTable, retired: RetiredRoutes): RouteTable => {
  if (Object.keys(retired.routes).length === 0) return table
  const routes: Record<string, RouteEntry> = { ...retired.routes, ...table.routes }
  const upstreams: Record<string, ReadonlyArray<string>> = { ...table.upstreams }
  for (const [hostname, route] of Object.entries(retired.routes)) {
    if (table.routes[hostname] !== undefined || upstreams[route.deploymentId] !== undefined) continue
    const addresses = retired.upstreams[route.deploymentId]
    if (addresses !== undefined) upstreams[route.deploymentId] = addresses
  }
  return { ...table, routes, upstreams }
}

/**
 * The retired routes rebuilt for a hot state from the full state (the whole log folded, nothing
 * retired): every route the hot state does not hold itself. For when the archive has lost them.
 */
export const rebuildRetiredRoutes = (full: ProjectState, hot: ProjectState, asOf: number): RetiredRoutes => {
  const routes: Record<string, RouteEntry> = {}
  const upstreams: Record<string, ReadonlyArray<string>> = {}
  for (const [hostname, route] of Object.entries(full.routes)) {
    if (hot.routes[hostname] !== undefined) continue
    routes[hostname] = route
    const holder = full.deployments[route.deploymentId]
    if (holder !== undefined) upstreams[holder.id] = runningAddresses(holder)
  }
  return { asOf, routes, upstreams }
}
