/**
 * `berth promote <projectId> <deploymentId>`: POST /v1/projects/:p/promote (publishes Promote);
 * with --wait, reports Berth's decision.
 */
import { defineCommand, exitCodes } from "../command.js"
import { deadlineFrom, EventCursor, reportDecision, startOf, waitOptions } from "../watch.js"

const name = "promote"

export const promote = defineCommand({
  name,
  summary: "make a ready production deployment live, or confirm a rollback (publishes Promote)",
  usage: "<projectId> <deploymentId> [--wait]",
  description: [
    "Promoting the live deployment of a rolled-back project confirms the rollback; otherwise the live and",
    "environment hostnames move to the deployment. With --wait, prints the decision (exit 1 when rejected)."
  ],
  positionals: { min: 2, max: 2 },
  options: { ...waitOptions },
  examples: ["berth promote proj_hello dep_hello_2 --wait"],
  run: async ({ positionals, options }, context) => {
    const projectId = positionals[0] ?? ""
    const deploymentId = positionals[1] ?? ""
    const deadline = options.wait === true ? deadlineFrom(name, options.timeout) : undefined
    const api = context.api()
    const after = deadline === undefined ? 0 : startOf(await api.findProject(projectId))
    const accepted = await api.promote(projectId, {
      deploymentId,
      ...(options["command-id"] === undefined ? {} : { commandId: options["command-id"] })
    })
    context.out(`Promote accepted: ${accepted.deploymentId} in ${accepted.projectId}, command ${accepted.commandId}`)
    if (deadline === undefined) return exitCodes.ok
    const { exitCode, events } = await reportDecision(context, new EventCursor(api, projectId, after), accepted.commandId, deadline)
    if (exitCode === exitCodes.ok) {
      context.out(
        events.some((event) => event.type === "RollbackCleared")
          ? `${projectId}: rollback confirmed; ${deploymentId} stays live and new deployments go live again`
          : `${deploymentId} is live`
      )
    }
    return exitCode
  }
})
