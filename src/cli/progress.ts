/**
 * `berth deploy --wait`: follows a deployment through GET /v1/deployments/:id (every 250 ms) and
 * prints each step as it starts and ends (with its duration), instance changes, and at the end the
 * domains and whether it is live. Until the deployment is projected (404) it watches the project's
 * events for a CommandRejected of its Deploy. Exit code: 0 ready, 1 failed/cancelled/rejected,
 * 2 timed out (the deployment carries on).
 */
import type { ApiClient, DeploymentWire, ProjectWire } from "./apiClient.js"
import { CliError, type Context, exitCodes } from "./command.js"
import { date, duration, table } from "./format.js"
import { type Deadline, EventCursor, pollMs, rejectionOf, sleep, startOf } from "./watch.js"

type Step = DeploymentWire["steps"][number]
type Instance = DeploymentWire["instances"][number]

interface Happening {
  readonly at: number
  /** At the same instant: instance changes, then the step they ended, then the step that starts. */
  readonly order: 0 | 1 | 2
  readonly line: string
}

const stepWidth = 16

export const stepEndLine = (step: Step): string => {
  const ended = step.endedAt === null ? Date.now() : date(step.endedAt).getTime()
  const took = duration(ended - date(step.startedAt).getTime()).padStart(7)
  return `  ${step.error === null ? "✓" : "✗"} ${step.step.padEnd(stepWidth)} ${took}${step.error === null ? "" : `  ${step.error}`}`
}

const instanceLine = (instance: Instance): string => `      instance ${instance.instanceId}  ${instance.address}  ${instance.status}`

/** What changed since the last poll, in the order it happened. */
class Progress {
  private readonly steps = new Map<string, "started" | "ended">()
  private readonly instances = new Map<string, string>()

  changes(deployment: DeploymentWire): Array<string> {
    const happenings: Array<Happening> = []
    // Compensation is reported with the failure, not as a step of the deployment's progress.
    for (const step of deployment.steps.filter((s) => s.step !== "compensate")) {
      const seen = this.steps.get(step.step)
      if (step.endedAt === null && seen === undefined) {
        happenings.push({ at: date(step.startedAt).getTime(), order: 2, line: `  → ${step.step}` })
        this.steps.set(step.step, "started")
      } else if (step.endedAt !== null && seen !== "ended") {
        happenings.push({ at: date(step.endedAt).getTime(), order: 1, line: stepEndLine(step) })
        this.steps.set(step.step, "ended")
      }
    }
    for (const instance of deployment.instances) {
      const state = `${instance.address} ${instance.status}`
      if (this.instances.get(instance.instanceId) === state) continue
      this.instances.set(instance.instanceId, state)
      happenings.push({ at: date(instance.updatedAt).getTime(), order: 0, line: instanceLine(instance) })
    }
    return happenings.sort((a, b) => a.at - b.at || a.order - b.order).map((h) => h.line)
  }
}

export const domainLines = (deployment: DeploymentWire, indent = "    "): Array<string> =>
  deployment.domains.length === 0
    ? [`${indent}(none)`]
    : table(deployment.domains.map((d) => [d.hostname, d.sticky]), { indent })

const totalTime = (deployment: DeploymentWire, endedAt: string | null): string =>
  endedAt === null ? "" : ` in ${duration(date(endedAt).getTime() - date(deployment.createdAt).getTime())}`

/** Why a ready deployment is not live, in words, with what to do about it. */
const notLiveBecause = (project: ProjectWire, deployment: DeploymentWire): string => {
  const environment = project.environments.find((e) => e.environmentId === deployment.environmentId)
  if (environment?.kind !== "production") return `not live: ${deployment.environmentId} is a preview environment`
  if (project.rolledBack) {
    return `not live: ${project.projectId} is rolled back to ${project.liveDeploymentId ?? "-"}; make it live with: berth promote ${project.projectId} ${deployment.deploymentId}`
  }
  return `not live: ${project.liveDeploymentId ?? "another deployment"} is live`
}

const finish = async (context: Context, api: ApiClient, project: ProjectWire, deployment: DeploymentWire): Promise<number> => {
  if (deployment.status === "ready") {
    const live = deployment.isLive ? "ready and live" : `ready (${notLiveBecause((await api.findProject(project.projectId)) ?? project, deployment)})`
    context.out(`✓ ${deployment.deploymentId} is ${live}${totalTime(deployment, deployment.readyAt)}`)
    context.out("  domains:")
    for (const line of domainLines(deployment)) context.out(line)
    return exitCodes.ok
  }
  const at = deployment.failure?.step ?? "?"
  if (deployment.status === "cancelled") {
    context.out(`✗ ${deployment.deploymentId} was cancelled at ${at}${totalTime(deployment, deployment.cancelledAt)}`)
  } else {
    context.out(`✗ ${deployment.deploymentId} failed at ${at}${totalTime(deployment, deployment.failedAt)}: ${deployment.failure?.reason ?? "?"}`)
  }
  context.out(`  its Krane deployment and hostnames are cleaned up by compensation (see: berth status ${deployment.deploymentId})`)
  return exitCodes.failed
}

/** Follows `deploymentId` until it is ready, failed or cancelled, or the deadline passes (CliError, exit 2). */
export const followDeployment = async (
  context: Context,
  api: ApiClient,
  project: ProjectWire,
  accepted: { readonly commandId: string; readonly deploymentId: string },
  deadline: Deadline
): Promise<number> => {
  const cursor = new EventCursor(api, project.projectId, startOf(project))
  const progress = new Progress()
  let last: DeploymentWire | undefined
  for (;;) {
    const deployment = await api.findDeployment(accepted.deploymentId, project.projectId)
    if (deployment === undefined) {
      // Not projected yet: Berth may have rejected the Deploy instead.
      const rejection = rejectionOf((await cursor.next()).filter((event) => event.commandId === accepted.commandId))
      if (rejection !== undefined) {
        context.out(`✗ rejected (${rejection.code}): ${rejection.message}`)
        return exitCodes.failed
      }
    } else {
      last = deployment
      for (const line of progress.changes(deployment)) context.out(line)
      if (deployment.status === "ready" || deployment.status === "failed" || deployment.status === "cancelled") {
        return finish(context, api, project, deployment)
      }
    }
    if (Date.now() > deadline.at) {
      const open = last?.steps.find((s) => s.endedAt === null)
      const where = last === undefined ? "not yet seen by the status API" : `${last.status}${open === undefined ? "" : ` at ${open.step}`}`
      throw new CliError(
        `timed out after ${deadline.label} waiting for ${accepted.deploymentId} (${where}); it carries on: berth status ${accepted.deploymentId}`,
        exitCodes.timedOut
      )
    }
    await sleep(pollMs)
  }
}
