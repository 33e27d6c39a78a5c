/**
 * `berth cancel <deploymentId> [--project <projectId>]`: POST /v1/projects/:p/deployments/:d/cancel (or
 * /v1/deployments/:d/cancel without --project; publishes CancelDeployment); with
 * --wait, reports Berth's decision and then the compensation (Krane delete, hostnames released).
 */
import { defineCommand, exitCodes } from "../command.js"
import { asPayload, describeEvent } from "../eventText.js"
import { deadlineFrom, EventCursor, pollMs, reportDecision, sleep, startOf, timedOut, waitOptions } from "../watch.js"

const name = "cancel"

export const cancel = defineCommand({
  name,
  summary: "cancel a deployment in progress (publishes CancelDeployment)",
  usage: "<deploymentId> [--project <projectId>] [--wait]",
  description: [
    "Only a deployment in progress can be cancelled. Its Krane deployment and hostnames are then cleaned",
    "up (compensation). With --wait, prints the decision and the compensation's result (exit 1 when rejected).",
    "Deployment ids are unique only within a project: --project says whose (needed when several projects use the id)."
  ],
  positionals: { min: 1, max: 1 },
  options: {
    ...waitOptions,
    project: { kind: "string", value: "<projectId>", description: "the project the deployment belongs to" }
  },
  examples: ["berth cancel dep_hello_3 --wait", "berth cancel dep_hello_3 --project proj_hello"],
  run: async ({ positionals, options }, context) => {
    const deploymentId = positionals[0] ?? ""
    const deadline = options.wait === true ? deadlineFrom(name, options.timeout) : undefined
    const api = context.api()
    // Where to read the project's events from, known before publishing (so the decision cannot be missed).
    const projectId = options.project
    const deployment = deadline === undefined ? undefined : await api.findDeployment(deploymentId, projectId)
    const after = deployment === undefined ? 0 : startOf(await api.findProject(deployment.projectId))
    const accepted = await api.cancel(deploymentId, options["command-id"] === undefined ? {} : { commandId: options["command-id"] }, projectId)
    context.out(`CancelDeployment accepted: ${accepted.deploymentId} in ${accepted.projectId}, command ${accepted.commandId}`)
    if (deadline === undefined) return exitCodes.ok
    const cursor = new EventCursor(api, accepted.projectId, after)
    const { exitCode } = await reportDecision(context, cursor, accepted.commandId, deadline)
    if (exitCode !== exitCodes.ok) return exitCode
    for (;;) {
      const compensated = (await cursor.next()).find((event) =>
        event.type === "DeploymentCompensated" && asPayload(event.payload)["deploymentId"] === deploymentId
      )
      if (compensated !== undefined) {
        context.out(`✓ ${compensated.type.padEnd(22)} ${describeEvent(compensated.type, compensated.payload)}`)
        return exitCodes.ok
      }
      if (Date.now() > deadline.at) throw timedOut(deadline, `the compensation of ${deploymentId}`)
      await sleep(pollMs)
    }
  }
})
