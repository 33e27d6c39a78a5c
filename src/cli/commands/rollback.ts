/**
 * `berth rollback <projectId> --to <deploymentId> [--from <deploymentId>]`: POST
 * /v1/projects/:p/rollback (publishes Rollback); with --wait, reports Berth's decision.
 */
import { defineCommand, exitCodes, required } from "../command.js"
import { deadlineFrom, EventCursor, reportDecision, startOf, waitOptions } from "../watch.js"

const name = "rollback"

export const rollback = defineCommand({
  name,
  summary: "point the live and environment hostnames back at an earlier deployment (publishes Rollback)",
  usage: "<projectId> --to <deploymentId> [--from <deploymentId>] [--wait]",
  description: [
    "The source defaults to the live deployment. The project stays rolled back (new deployments do not",
    "go live) until a promote. With --wait, prints the decision: the hostnames and live pointer moved, or",
    "the rejection (exit 1)."
  ],
  positionals: { min: 1, max: 1 },
  options: {
    to: { kind: "string", value: "<deploymentId>", description: "the deployment to roll back to (ready, production)" },
    from: { kind: "string", value: "<deploymentId>", description: "the deployment rolled back from (default: the live one)" },
    ...waitOptions
  },
  examples: ["berth rollback proj_hello --to dep_hello_1 --wait"],
  run: async ({ positionals, options }, context) => {
    const projectId = positionals[0] ?? ""
    const targetDeploymentId = required(name, options.to, "--to <deploymentId> is required")
    const deadline = options.wait === true ? deadlineFrom(name, options.timeout) : undefined
    const api = context.api()
    const after = deadline === undefined ? 0 : startOf(await api.findProject(projectId))
    const accepted = await api.rollback(projectId, {
      targetDeploymentId,
      ...(options.from === undefined ? {} : { sourceDeploymentId: options.from }),
      ...(options["command-id"] === undefined ? {} : { commandId: options["command-id"] })
    })
    context.out(`Rollback accepted: ${accepted.projectId} from ${accepted.sourceDeploymentId} to ${accepted.targetDeploymentId}, command ${accepted.commandId}`)
    if (deadline === undefined) return exitCodes.ok
    const { exitCode } = await reportDecision(context, new EventCursor(api, projectId, after), accepted.commandId, deadline)
    if (exitCode === exitCodes.ok) {
      context.out(`${projectId} is rolled back to ${accepted.targetDeploymentId}; new deployments do not go live until: berth promote ${projectId} <deploymentId>`)
    }
    return exitCode
  }
})
