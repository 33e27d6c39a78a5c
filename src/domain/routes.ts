/**
 * Which hostnames a deployment takes when its domains are assigned, and the route table that results.
 * Rules (Unkey spec 3.8 and 5.2, with its holes closed):
 * - per-deployment and commit hostnames always go to the deployment;
 * - a sticky hostname (branch, environment, live) never moves back to a deployment requested before
 *   the one holding it, so a slow old deployment cannot steal traffic from a newer one;
 * - while the project is rolled back, the production environment's live and environment hostnames
 *   stay where the rollback put them (branch hostnames still move).
 */
import { buildDomains } from "./domains.js"
import type { DomainAssignment } from "./events.js"
import type { DeploymentState, ProjectInfo, ProjectState, RouteEntry } from "./state.js"

export interface RoutePlan {
  readonly assign: ReadonlyArray<DomainAssignment>
  readonly withheld: ReadonlyArray<DomainAssignment>
}

export interface RouteTable {
  readonly projectId: string
  readonly routes: Readonly<Record<string, RouteEntry>>
  /** deploymentId -> addresses (host:port) of its running instances. */
  readonly upstreams: Readonly<Record<string, ReadonlyArray<string>>>
}

export const environmentOf = (project: ProjectInfo, environmentId: string) =>
  project.environments.find((environment) => environment.id === environmentId)

/** Every hostname a deployment gets (its id, environment and git info decide them). */
export const domainsOf = (
  project: ProjectInfo,
  deployment: Pick<DeploymentState, "id" | "environmentId" | "git">
): ReadonlyArray<DomainAssignment> => {
  const environment = environmentOf(project, deployment.environmentId)
  if (environment === undefined) return []
  return buildDomains({
    workspaceSlug: project.workspace,
    projectSlug: project.slug,
    environmentSlug: environment.slug,
    isProduction: environment.kind === "production",
    apexDomain: project.apexDomain,
    deploymentId: deployment.id,
    gitSha: deployment.git?.sha,
    branch: deployment.git?.branch
  })
}

const heldByNewer = (state: ProjectState, hostname: string, deployment: DeploymentState): boolean => {
  const holder = state.routes[hostname]
  if (holder === undefined || holder.deploymentId === deployment.id) return false
  const holding = state.deployments[holder.deploymentId]
  return holding !== undefined && holding.order > deployment.order
}

export const planRoutes = (state: ProjectState, deploymentId: string): RoutePlan => {
  const project = state.project
  const deployment = state.deployments[deploymentId]
  if (project === null || deployment === undefined) return { assign: [], withheld: [] }
  const production = environmentOf(project, deployment.environmentId)?.kind === "production"
  const assign: Array<DomainAssignment> = []
  const withheld: Array<DomainAssignment> = []
  for (const domain of domainsOf(project, deployment)) {
    const frozenByRollback =
      production && state.rolledBack && (domain.sticky === "live" || domain.sticky === "environment")
    const keep = domain.sticky === "deployment" || (!frozenByRollback && !heldByNewer(state, domain.hostname, deployment))
    ;(keep ? assign : withheld).push(domain)
  }
  return { assign, withheld }
}

/** The one "running addresses" rule: where a deployment's traffic can go now. */
export const runningAddresses = (deployment: DeploymentState): ReadonlyArray<string> =>
  deployment.instances.filter((instance) => instance.status === "RUNNING").map((instance) => instance.address)

/** deploymentId -> addresses of its running instances, for every deployment a route points at. */
export const upstreamsFor = (
  state: ProjectState,
  routes: Readonly<Record<string, RouteEntry>>
): Record<string, ReadonlyArray<string>> => {
  const upstreams: Record<string, ReadonlyArray<string>> = {}
  for (const route of Object.values(routes)) {
    const target = state.deployments[route.deploymentId]
    if (target !== undefined) upstreams[target.id] = runningAddresses(target)
  }
  return upstreams
}

/** The project's whole route table with these routes. */
export const tableOf = (state: ProjectState, routes: Readonly<Record<string, RouteEntry>>): RouteTable => ({
  projectId: state.project?.projectId ?? "",
  routes,
  upstreams: upstreamsFor(state, routes)
})

/** The whole route table of the project once `assign` points at `deploymentId`. */
export const routeTableWith = (
  state: ProjectState,
  deploymentId: string,
  assign: ReadonlyArray<DomainAssignment>
): RouteTable => {
  const deployment = state.deployments[deploymentId]
  const routes: Record<string, RouteEntry> = { ...state.routes }
  if (deployment !== undefined) {
    for (const domain of assign) {
      routes[domain.hostname] = { deploymentId, sticky: domain.sticky, environmentId: deployment.environmentId }
    }
  }
  return tableOf(state, routes)
}
