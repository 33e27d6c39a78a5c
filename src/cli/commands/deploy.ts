/**
 * `berth deploy <projectId> …`: POST /v1/projects/:p/deployments (publishes Deploy); with --wait,
 * follows the deployment to ready, failed or cancelled (see progress.ts).
 */
import type { DeployBody } from "../apiClient.js"
import { defineCommand, exitCodes, integerOption, required, usageError } from "../command.js"
import { splitCommandLine } from "../format.js"
import { absoluteLocalPaths } from "../../shared/localPaths.js"
import { followDeployment } from "../progress.js"
import { deadlineFrom, waitOptions } from "../watch.js"

const name = "deploy"

const sourceOf = (image: string | undefined, command: string | undefined, rest: ReadonlyArray<string> | undefined): DeployBody["source"] => {
  const given = [image, command, rest].filter((s) => s !== undefined).length
  if (given === 0) throw usageError(name, "give a source: --image <ref>, --command \"<command line>\" or -- <command> <args…>")
  if (given > 1) throw usageError(name, "give one source: --image, --command or -- <command> <args…>")
  if (image !== undefined) return { image }
  const argv = rest ?? splitCommandLine(command ?? "")
  if (argv === undefined) throw usageError(name, `--command has an unclosed quote: ${command ?? ""}`)
  if (argv.length === 0) throw usageError(name, "the command is empty")
  return { command: argv }
}

const envOf = (settings: ReadonlyArray<string> | undefined): Record<string, string> | undefined => {
  if (settings === undefined || settings.length === 0) return undefined
  const env: Record<string, string> = {}
  for (const setting of settings) {
    const at = setting.indexOf("=")
    if (at <= 0) throw usageError(name, `--set takes KEY=VALUE, got "${setting}"`)
    env[setting.slice(0, at)] = setting.slice(at + 1)
  }
  return env
}

const gitOf = (sha: string | undefined, branch: string | undefined, message: string | undefined): DeployBody["git"] => {
  if (sha === undefined) {
    if (branch !== undefined || message !== undefined) throw usageError(name, "--branch and --message describe a commit: give its --sha too")
    return undefined
  }
  return { sha, ...(branch === undefined ? {} : { branch }), ...(message === undefined ? {} : { message }) }
}

export const deploy = defineCommand({
  name,
  summary: "deploy a new version (publishes Deploy); --wait follows it to live",
  usage: "<projectId> [--env <environmentId>] (--image <ref> | --command \"<cmd>\" | -- <cmd> <args>…) [options]",
  description: [
    "Without --env, deploys to the project's production environment. Prints the deployment and command",
    "ids. With --wait, prints each step as it starts and ends (with its duration), instance changes, then",
    "the domains and whether it is live. Exit code: 0 ready, 1 failed, cancelled or rejected, 2 timed out",
    "(the deployment carries on)."
  ],
  positionals: { min: 1, max: 1 },
  rest: true,
  options: {
    env: { kind: "string", value: "<environmentId>", description: "the environment (default: the project's production one)" },
    image: { kind: "string", value: "<ref>", description: "a container image to run" },
    command: { kind: "string", value: "<cmd>", description: "a command line to run (split like a shell, no expansion)" },
    id: { kind: "string", value: "<deploymentId>", description: "the deployment id (default: generated, dep_…)" },
    sha: { kind: "string", value: "<sha>", description: "git commit (7-40 hex digits)" },
    branch: { kind: "string", value: "<name>", description: "git branch (default: the project's default branch)" },
    message: { kind: "string", value: "<text>", description: "git commit message" },
    replicas: { kind: "string", value: "<n>", description: "instances to run (default 1)" },
    port: { kind: "string", value: "<port>", description: "the port the app listens on (default 8080)" },
    set: { kind: "list", value: "<KEY=VALUE>", description: "an environment variable for the app (the API seals the value; Berth shows it as sealed(<fingerprint>))" },
    ...waitOptions,
    wait: { kind: "boolean", description: "follow the deployment until it is ready (exit 0), failed or cancelled (1) or --timeout (2)" }
  },
  examples: [
    "berth deploy proj_hello --set APP_VERSION=v2 --replicas 2 --wait -- node examples/hello/server.js",
    "berth deploy proj_shop --env env_shop_preview --image ghcr.io/acme/shop:1 --sha 1b2c3d4 --branch feature/x"
  ],
  run: async ({ positionals, options, rest }, context) => {
    const projectId = positionals[0] ?? ""
    const typed = sourceOf(options.image, options.command, rest)
    const local = "command" in typed ? absoluteLocalPaths(typed.command) : undefined
    const source: DeployBody["source"] = local === undefined ? typed : { command: local.command }
    const git = gitOf(options.sha, options.branch, options.message)
    const env = envOf(options.set)
    const replicas = integerOption(name, "replicas", options.replicas)
    const port = integerOption(name, "port", options.port)
    const deadline = options.wait === true ? deadlineFrom(name, options.timeout) : undefined
    const api = context.api()
    const project = await api.project(projectId)
    const environmentId = required(
      name,
      options.env ?? project.environments.find((e) => e.kind === "production")?.environmentId,
      `${projectId} has no production environment: give --env (one of ${project.environments.map((e) => e.environmentId).join(", ")})`
    )
    const body: DeployBody = {
      environmentId,
      source,
      ...(options.id === undefined ? {} : { deploymentId: options.id }),
      ...(options["command-id"] === undefined ? {} : { commandId: options["command-id"] }),
      ...(git === undefined ? {} : { git }),
      ...(replicas === undefined ? {} : { replicas }),
      ...(port === undefined ? {} : { port }),
      ...(env === undefined ? {} : { env })
    }
    const accepted = await api.deploy(projectId, body)
    context.out(`Deploy accepted: deployment ${accepted.deploymentId} to ${environmentId}, command ${accepted.commandId}`)
    for (const [from, to] of local?.resolved ?? []) context.out(`  (${from} sent as ${to}: instances run in their own directory)`)
    if (deadline === undefined) {
      context.out(`  follow it with: berth status ${accepted.deploymentId}`)
      return exitCodes.ok
    }
    return followDeployment(context, api, project, accepted, deadline)
  }
})
