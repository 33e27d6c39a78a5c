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

/**
 * projectId -> hostname -> its target: each project's own hostnames, so a route table's change touches
 * only its project's entry (a rebuild of every project's hostnames on each change cost the gateway
 * time in proportion to all the deployments ever routed).
 */
export type RouteIndex = ReadonlyMap<string, ReadonlyMap<string, RouteTarget>>

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
 * One project's hostnames from the tables naming it as their project, oldest first: a hostname two of
 * them name keeps the older table's target (normally there is one table per project).
 */
export const projectRoutes = (tables: Iterable<StoredRouteTable>): ReadonlyMap<string, RouteTarget> => {
  const routes = new Map<string, RouteTarget>()
  for (const table of tables) {
    for (const [rawHostname, route] of Object.entries(table.routes)) {
      const hostname = hostnameOf(rawHostname)
      if (hostname === "" || routes.has(hostname)) continue
      routes.set(hostname, {
        hostname,
        projectId: table.projectId,
        deploymentId: route.deploymentId,
        upstreams: table.upstreams[route.deploymentId] ?? []
      })
    }
  }
  return routes
}

/** The index of the tables given, oldest first. */
export const buildRouteIndex = (tables: Iterable<StoredRouteTable>): RouteIndex => {
  const byProject = new Map<string, Array<StoredRouteTable>>()
  for (const table of tables) {
    const own = byProject.get(table.projectId)
    if (own === undefined) byProject.set(table.projectId, [table])
    else own.push(table)
  }
  return new Map([...byProject].map(([projectId, own]) => [projectId, projectRoutes(own)]))
}

/**
 * The target serving `hostname`: the one in the table of the project holding its claim (tenant
 * isolation; see src/adapters/claims/). A hostname nobody holds, or that only other projects' tables
 * name, is served by no one: the gateway fails closed.
 */
export const routeFor = (index: RouteIndex, hostname: string, holder: (hostname: string) => string | undefined): RouteTarget | undefined => {
  const owner = holder(hostname)
  return owner === undefined ? undefined : index.get(owner)?.get(hostname)
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
