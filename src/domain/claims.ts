/**
 * Hostname claims (tenant isolation): which hostnames a decision makes its project use, so the
 * orchestrator can claim them (first owner wins, src/adapters/claims/) before the decision is
 * recorded, and reject it when another project holds one. Without claims two projects with the same
 * workspace and slug (or a slug crafted to equal another project's branch hostname) would get the
 * same hostnames, and the gateway would route them to whichever table it read last. Pure.
 */
import { buildDomains } from "./domains.js"
import type { ProjectEvent } from "./events.js"
import { domainsOf } from "./routes.js"
import type { ProjectInfo, ProjectState } from "./state.js"

/** The hostnames a project holds from its creation: each environment's, and the live one. */
export const projectHostnames = (project: ProjectInfo): ReadonlyArray<string> =>
  project.environments.flatMap((environment) =>
    buildDomains({
      workspaceSlug: project.workspace,
      projectSlug: project.slug,
      environmentSlug: environment.slug,
      isProduction: environment.kind === "production",
      apexDomain: project.apexDomain,
      // Only the environment and live hostnames are kept: they do not depend on the deployment (so
      // any id will do here, an empty one included).
      // Stryker disable next-line StringLiteral: see above
      deploymentId: "unused"
    })
      .filter((domain) => domain.sticky === "environment" || domain.sticky === "live")
      .map((domain) => domain.hostname)
  )

/**
 * Every hostname the events of one decision make the project use (sorted, once each): a new
 * project's environment and live hostnames, a new deployment's every hostname (commit, branch,
 * environment, live, per-deployment). Other decisions use hostnames claimed before.
 */
export const hostnamesToClaim = (state: ProjectState, events: ReadonlyArray<ProjectEvent>): ReadonlyArray<string> => {
  let project = state.project
  const hostnames = new Set<string>()
  for (const event of events) {
    switch (event.type) {
      case "ProjectCreated":
        project = event
        for (const hostname of projectHostnames(project)) hostnames.add(hostname)
        break
      case "DeploymentRequested":
        if (project === null) break
        for (const domain of domainsOf(project, { id: event.deploymentId, environmentId: event.environmentId, git: event.git })) {
          hostnames.add(domain.hostname)
        }
        break
    }
  }
  return [...hostnames].sort()
}

/** The rejection of a decision whose hostnames another project holds: it names the hostname, never the owner. */
export const hostnameTakenMessage = (taken: ReadonlyArray<string>): string =>
  `hostname already taken by another project: ${taken.join(", ")}`
