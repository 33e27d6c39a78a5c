/**
 * `berth status`: Berth itself — the API's readiness and every role's health report (which process,
 * ready or not and why, projector lag, intake state). `berth status <projectId | deploymentId>`: a project (live deployment, rolled back, environments,
 * recent deployments, live history) or a deployment (status, steps with durations and errors,
 * instances, domains) as tables. An id is looked up as a project first, then as a deployment; ids
 * starting with `dep_` the other way round (ids are free-form, so both are always tried).
 */
import type { ApiClient, DeploymentPageWire, DeploymentWire, ProjectWire, ReadinessWire } from "../apiClient.js"
import { CliError, type Context, defineCommand, exitCodes, integerOption } from "../command.js"
import { age, bytes, date, duration, table, time } from "../format.js"

const name = "status"

const when = (iso: string | null, now: Date): string => (iso === null ? "-" : `${time(date(iso))} (${age(date(iso), now)})`)

const gitText = (git: DeploymentWire["git"]): string =>
  git === null ? "-" : [git.sha.slice(0, 12), git.branch ?? "", git.message === null ? "" : JSON.stringify(git.message)].filter((s) => s !== "").join(" ")

const sourceText = (source: DeploymentWire["source"]): string =>
  "image" in source ? `image ${source.image}` : `command ${JSON.stringify(source.command.join(" "))}`

const printProject = (context: Context, project: ProjectWire, page: DeploymentPageWire, limit: number): void => {
  const now = new Date()
  const lines = table([
    ["Project", `${project.projectId} (${project.workspace}/${project.slug})`],
    ["Apex domain", project.apexDomain],
    ["Branch", project.defaultBranch],
    ["Live", project.liveDeploymentId ?? "none"],
    ["Rolled back", project.rolledBack ? "yes: new deployments do not go live until a promote" : "no"],
    ["Created", when(project.createdAt, now)],
    ["Updated", when(project.updatedAt, now)]
  ])
  const environments = table(project.environments.map((e) => [e.environmentId, e.slug, e.kind]), { header: ["ENVIRONMENT", "SLUG", "KIND"] })
  const deployments = page.deployments.length === 0
    ? ["No deployments yet."]
    : table(
      page.deployments.map((d) => [
        d.deploymentId,
        d.isLive ? "●" : "",
        d.status,
        d.environmentId,
        gitText(d.git === null ? null : { ...d.git, message: null }),
        time(date(d.createdAt)),
        age(date(d.createdAt), now)
      ]),
      { header: ["DEPLOYMENT", "LIVE", "STATUS", "ENVIRONMENT", "GIT", "CREATED", "AGE"] }
    )
  const more = page.nextCursor === null ? [] : [`(older deployments: berth status ${project.projectId} --limit ${Math.min(limit * 2, 100)})`]
  const history = project.liveHistory.length === 0
    ? []
    : [
      "",
      "Live history (newest first):",
      ...table(
        project.liveHistory.slice(0, 5).map((h) => [time(date(h.at)), h.fromDeploymentId ?? "-", h.toDeploymentId, h.reason]),
        { header: ["AT", "FROM", "TO", "REASON"] }
      )
    ]
  for (const line of [...lines, "", ...environments, "", ...deployments, ...more, ...history]) context.out(line)
}

const printDeployment = (context: Context, deployment: DeploymentWire): void => {
  const now = new Date()
  const created = date(deployment.createdAt).getTime()
  const after = (iso: string | null): string => (iso === null ? "-" : `${time(date(iso))} (after ${duration(date(iso).getTime() - created)})`)
  const rows: Array<[string, string]> = [
    ["Deployment", `${deployment.deploymentId} (project ${deployment.projectId}, environment ${deployment.environmentId})`],
    ["Status", `${deployment.status}${deployment.isLive ? ", live" : ""}`],
    ["Source", sourceText(deployment.source)],
    ["Git", gitText(deployment.git)],
    ["Replicas", `${deployment.replicas} (port ${deployment.port})`],
    ["Created", when(deployment.createdAt, now)]
  ]
  if (deployment.readyAt !== null) rows.push(["Ready", after(deployment.readyAt)])
  if (deployment.failedAt !== null) rows.push(["Failed", after(deployment.failedAt)])
  if (deployment.cancelledAt !== null) rows.push(["Cancelled", after(deployment.cancelledAt)])
  if (deployment.failure !== null) rows.push(["Failure", `${deployment.failure.step}: ${deployment.failure.reason}`])
  if (deployment.compensatedAt !== null) rows.push(["Compensated", after(deployment.compensatedAt)])
  const spec = deployment.openApi
  rows.push([
    "OpenAPI",
    spec === null ? "not captured" : `${spec.path}, ${bytes(spec.sizeBytes)} (sha256 ${spec.sha256.slice(0, 12)}${spec.stored ? "" : ", document missing"})`
  ])
  const steps = table(
    deployment.steps.map((s) => {
      const end = s.endedAt === null ? now.getTime() : date(s.endedAt).getTime()
      const result = s.error !== null ? `✗ ${s.error}` : s.endedAt === null ? "… running" : "✓"
      return [s.step, time(date(s.startedAt)), duration(end - date(s.startedAt).getTime()), result]
    }),
    { header: ["STEP", "STARTED", "DURATION", "RESULT"], align: ["left", "left", "right", "left"] }
  )
  const instances = deployment.instances.length === 0
    ? ["No instances."]
    : table(deployment.instances.map((i) => [i.instanceId, i.address, i.status]), { header: ["INSTANCE", "ADDRESS", "STATUS"] })
  const domains = deployment.domains.length === 0
    ? ["No domains."]
    : table(deployment.domains.map((d) => [d.hostname, d.sticky, d.environmentId]), { header: ["DOMAIN", "STICKY", "ENVIRONMENT"] })
  for (const line of [...table(rows), "", ...(steps.length > 1 ? steps : ["No steps yet."]), "", ...instances, "", ...domains]) context.out(line)
}

const checkText = (checks: ReadinessWire["checks"]): string =>
  Object.entries(checks).map(([name, check]) => `${check.ok ? "✓" : "✗"} ${name}: ${check.detail}`).join("; ")

const printReadiness = (context: Context, readiness: ReadinessWire): void => {
  const now = Date.now()
  const lines = [
    `Berth is ${readiness.status}.`,
    `  API: ${checkText(readiness.checks)}`,
    "",
    ...(readiness.roles.length === 0
      ? ["No role has reported."]
      : table(
        readiness.roles.map((r) => [r.role, r.instance, r.ready ? "ready" : "NOT READY", age(new Date(r.startedAt), new Date(now)), `${Math.round(r.ageMs / 100) / 10}s`, checkText(r.checks)]),
        { header: ["ROLE", "INSTANCE", "STATE", "STARTED", "REPORTED", "CHECKS"] }
      )),
    ...(readiness.missing.length === 0 ? [] : ["", `Not reporting: ${readiness.missing.join(", ")}`])
  ]
  for (const line of lines) context.out(line)
}

type Found =
  | { readonly kind: "project"; readonly project: ProjectWire }
  | { readonly kind: "deployment"; readonly deployment: DeploymentWire }

const find = async (api: ApiClient, id: string, projectId: string | undefined): Promise<Found | undefined> => {
  if (projectId !== undefined) {
    const deployment = await api.findDeployment(id, projectId)
    return deployment === undefined ? undefined : { kind: "deployment", deployment }
  }
  const asProject = async (): Promise<Found | undefined> => {
    const project = await api.findProject(id)
    return project === undefined ? undefined : { kind: "project", project }
  }
  const asDeployment = async (): Promise<Found | undefined> => {
    const deployment = await api.findDeployment(id)
    return deployment === undefined ? undefined : { kind: "deployment", deployment }
  }
  return id.startsWith("dep_") ? (await asDeployment()) ?? (await asProject()) : (await asProject()) ?? (await asDeployment())
}

export const status = defineCommand({
  name,
  summary: "show a project or a deployment",
  usage: "[<projectId | deploymentId>] [--project <projectId>] [--limit <n>] [--json]",
  description: [
    "Without an id: Berth's health: whether the API can serve (NATS, PostgreSQL) and each role process's",
    "latest report (orchestrator intake, projector lag, gateway), wherever it runs; exit 1 when unavailable.",
    "A project: its live deployment, whether it is rolled back, environments, recent deployments (● marks",
    "the live one) and live history. A deployment: status, steps with durations and errors, instances and",
    "domains. The id is tried as a project, then as a deployment (dep_… ids the other way round).",
    "With --project, the id is a deployment of that project (deployment ids are unique only within a project)."
  ],
  positionals: { min: 0, max: 1 },
  options: {
    project: { kind: "string", value: "<projectId>", description: "show deployment <id> of this project" },
    limit: { kind: "string", value: "<n>", description: "how many recent deployments a project shows (1-100, default 10)" },
    json: { kind: "boolean", description: "print the API's JSON instead (a project: {project, deployments})" }
  },
  examples: ["berth status", "berth status proj_hello", "berth status dep_hello_1", "berth status dep_hello_1 --project proj_hello"],
  run: async ({ positionals, options }, context) => {
    const api = context.api()
    const id = positionals[0]
    if (id === undefined) {
      const readiness = await api.readiness()
      if (options.json === true) context.out(JSON.stringify(readiness, null, 2))
      else printReadiness(context, readiness)
      return readiness.status === "unavailable" ? exitCodes.failed : exitCodes.ok
    }
    const limit = integerOption(name, "limit", options.limit) ?? 10
    const found = await find(api, id, options.project)
    if (found === undefined) {
      throw new CliError(options.project === undefined
        ? `project or deployment not found: ${id} (HTTP 404)`
        : `deployment not found: ${id} in project ${options.project} (HTTP 404)`)
    }
    if (found.kind === "deployment") {
      if (options.json === true) context.out(JSON.stringify(found.deployment, null, 2))
      else printDeployment(context, found.deployment)
      return exitCodes.ok
    }
    const page = await api.deployments(found.project.projectId, limit)
    if (options.json === true) context.out(JSON.stringify({ project: found.project, deployments: page.deployments }, null, 2))
    else printProject(context, found.project, page, limit)
    return exitCodes.ok
  }
})
