/**
 * `berth project create <projectId> …`: POST /v1/projects (publishes CreateProject).
 */
import type { CreateProjectBody } from "../apiClient.js"
import { defineCommand, exitCodes, required, usageError } from "../command.js"
import { deadlineFrom, EventCursor, reportDecision, waitOptions } from "../watch.js"

const name = "project create"

/** `proj_hello` -> `hello`: the part environment ids and the default slug are made from. */
const baseName = (projectId: string): string => projectId.replace(/^proj[_-]/, "")

/** A lower-case DNS label from the project id, when it makes one. */
const defaultSlug = (projectId: string): string | undefined => {
  const slug = baseName(projectId).toLowerCase().replace(/_/g, "-")
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(slug) ? slug : undefined
}

type Environment = CreateProjectBody["environments"][number]

/** `--env production:env_prod` (slug:id; kind production for the slug "production", else preview) or `slug:id:kind`. */
const parseEnvironment = (value: string): Environment => {
  const [slug, id, kind, ...extra] = value.split(":")
  if (slug === undefined || slug === "" || id === undefined || id === "" || extra.length > 0) {
    throw usageError(name, `--env takes <slug>:<environmentId>[:production|preview], got "${value}"`)
  }
  if (kind !== undefined && kind !== "production" && kind !== "preview") {
    throw usageError(name, `--env kind must be production or preview, got "${kind}"`)
  }
  return { id, slug, kind: kind ?? (slug === "production" ? "production" : "preview") }
}

export const projectCreate = defineCommand({
  name,
  summary: "create a project (publishes CreateProject)",
  usage: "<projectId> --workspace <slug> --apex <domain> [--slug <slug>] [--env <slug>:<id>]… [--branch <name>] [--openapi-path <path>] [--wait]",
  description: [
    "Without --env the project gets two environments: production (env_<name>_prod) and preview",
    "(env_<name>_preview), where <name> is the project id without its proj_ prefix. The slug defaults",
    "to that name when it is a valid DNS label. With --wait, prints Berth's decision: created, or why not."
  ],
  positionals: { min: 1, max: 1 },
  options: {
    workspace: { kind: "string", value: "<slug>", description: "the workspace (a DNS label): part of every hostname" },
    slug: { kind: "string", value: "<slug>", description: "the project's slug (a DNS label; default from the project id)" },
    apex: { kind: "string", value: "<domain>", description: "the apex domain hostnames are made under: one of BERTH_APEX_DOMAINS (default berth.localhost, localhost)" },
    branch: { kind: "string", value: "<name>", description: "the default branch (default main)" },
    env: { kind: "list", value: "<slug>:<id>[:kind]", description: "an environment, e.g. production:env_shop_prod" },
    "openapi-path": { kind: "string", value: "<path>", description: "where the app serves its OpenAPI document (default Berth's)" },
    ...waitOptions
  },
  examples: [
    "berth project create proj_hello --workspace acme --apex berth.localhost --wait",
    "berth project create proj_shop --workspace acme --slug shop --apex example.com --env production:env_shop_prod --env staging:env_shop_staging"
  ],
  run: async ({ positionals, options }, context) => {
    const projectId = positionals[0] ?? ""
    const workspace = required(name, options.workspace, "--workspace is required")
    const apexDomain = required(name, options.apex, "--apex is required (e.g. --apex berth.localhost)")
    const slug = required(name, options.slug ?? defaultSlug(projectId), "--slug is required (the project id makes no DNS label)")
    const base = baseName(projectId)
    const environments: Array<Environment> = options.env === undefined || options.env.length === 0
      ? [
        { id: `env_${base}_prod`, slug: "production", kind: "production" },
        { id: `env_${base}_preview`, slug: "preview", kind: "preview" }
      ]
      : options.env.map(parseEnvironment)
    const body: CreateProjectBody = {
      projectId,
      workspace,
      slug,
      apexDomain,
      environments,
      ...(options.branch === undefined ? {} : { defaultBranch: options.branch }),
      ...(options["openapi-path"] === undefined ? {} : { openApiPath: options["openapi-path"] }),
      ...(options["command-id"] === undefined ? {} : { commandId: options["command-id"] })
    }
    const deadline = options.wait === true ? deadlineFrom(name, options.timeout) : undefined
    const api = context.api()
    const accepted = await api.createProject(body)
    context.out(`CreateProject accepted: project ${accepted.projectId}, command ${accepted.commandId}`)
    if (deadline === undefined) {
      context.out(`  environments: ${environments.map((e) => `${e.id} (${e.slug}, ${e.kind})`).join(", ")}`)
      return exitCodes.ok
    }
    // A project that did not exist has no events we could miss: read its trail from the start.
    const { exitCode } = await reportDecision(context, new EventCursor(api, projectId, 0), accepted.commandId, deadline)
    if (exitCode === exitCodes.ok) context.out(`Project ${projectId} created. Deploy with: berth deploy ${projectId} -- node server.js`)
    return exitCode
  }
})
