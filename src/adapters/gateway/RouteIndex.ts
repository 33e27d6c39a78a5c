/**
 * Pure routing data for the gateway: the hostname index built from every project's route table,
 * Host header normalisation, and the round-robin order in which a deployment's instances are tried.
 */
import type { StoredRouteTable } from "../routing/RoutingService.js"

export interface RouteTarget {
  readonly hostname: string
  readonly projectId: string
  readonly deploymentId: string
  /** host:port of the deployment's running instances (may be empty). */
  readonly upstreams: ReadonlyArray<string>
}

/** hostname -> the target of every table that names it (one per project, in table order). */
export type RouteIndex = ReadonlyMap<string, ReadonlyArray<RouteTarget>>

export const emptyRouteIndex: RouteIndex = new Map()

/** Lower-cased hostname of a Host header without its port or trailing dot; "" when there is none. */
export const hostnameOf = (host: string | undefined): string => {
  if (host === undefined) return ""
  let name = host.trim().toLowerCase()
  if (name.startsWith("[")) {
    const end = name.indexOf("]")
    name = end === -1 ? name : name.slice(0, end + 1)
  } else {
    const colon = name.indexOf(":")
    if (colon !== -1) name = name.slice(0, colon)
  }
  return name.endsWith(".") ? name.slice(0, -1) : name
}

/**
 * hostname -> targets from the tables, in the order given: each table carries all of its project's
 * hostnames. Which of several projects naming one hostname is served is `routeFor`'s choice.
 */
export const buildRouteIndex = (tables: Iterable<StoredRouteTable>): RouteIndex => {
  const index = new Map<string, Array<RouteTarget>>()
  for (const table of tables) {
    for (const [rawHostname, route] of Object.entries(table.routes)) {
      const hostname = hostnameOf(rawHostname)
      if (hostname === "") continue
      const target: RouteTarget = {
        hostname,
        projectId: table.projectId,
        deploymentId: route.deploymentId,
        upstreams: table.upstreams[route.deploymentId] ?? []
      }
      const targets = index.get(hostname)
      if (targets === undefined) index.set(hostname, [target])
      else targets.push(target)
    }
  }
  return index
}

/**
 * The target serving `hostname`: the one of the project holding its claim (tenant isolation; see
 * src/adapters/claims/). A hostname nobody holds, or that only other projects' tables name, is
 * served by no one: the gateway fails closed.
 */
export const routeFor = (index: RouteIndex, hostname: string, holder: (hostname: string) => string | undefined): RouteTarget | undefined => {
  const targets = index.get(hostname)
  if (targets === undefined) return undefined
  const owner = holder(hostname)
  return owner === undefined ? undefined : targets.find((target) => target.projectId === owner)
}

/**
 * Round robin per deployment: each call starts one instance further along, then wraps (the failover
 * order). An instance that refused within the cooldown is tried only after the others.
 */
export class RoundRobin {
  private readonly next = new Map<string, number>()
  private readonly downSince = new Map<string, number>()

  constructor(private readonly cooldownMs = 5_000) {}

  order(deploymentId: string, upstreams: ReadonlyArray<string>, now = Date.now()): ReadonlyArray<string> {
    if (upstreams.length <= 1) return upstreams
    const start = (this.next.get(deploymentId) ?? 0) % upstreams.length
    this.next.set(deploymentId, start + 1)
    const rotated = [...upstreams.slice(start), ...upstreams.slice(0, start)]
    const down = (address: string) => now - (this.downSince.get(address) ?? -Infinity) < this.cooldownMs
    return [...rotated.filter((address) => !down(address)), ...rotated.filter(down)]
  }

  /** Records a refusal; true when the instance was not already known to be down. */
  markDown(address: string, now = Date.now()): boolean {
    const known = now - (this.downSince.get(address) ?? -Infinity) < this.cooldownMs
    this.downSince.set(address, now)
    return !known
  }

  markUp(address: string): void {
    this.downSince.delete(address)
  }
}
