/**
 * The `berth` CLI's HTTP client for the status API (plain fetch). Failures become one CliError line:
 * a problem+json answer is `<detail> (HTTP <status>)`, a refused connection names the URL and how to
 * start Berth. The API URL: `--api`, else BERTH_API_URL, else `api` in the run.json that `npm start`
 * writes, else http://127.0.0.1:8787. The token it sends (Authorization: Bearer): BERTH_TOKEN, else the
 * admin token `npm start` keeps in the data dir (`admin-token` beside run.json).
 *
 * Response types are the API's own Schemas' wire (encoded) types, imported as types only: the CLI
 * does not load `effect` at run time (it starts in a third of the time), and checks each answer's
 * shape only as far as naming the fields it reads first.
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { Schema } from "effect"
import type { CommandAccepted, CreateProjectRequest, DeployRequest, ProjectAccepted, RollbackAccepted } from "../api/requests.js"
import type { CreateTokenRequest, TokenCreated, TokenList } from "../api/tokenViews.js"
import type { DeploymentPage, DeploymentView, EventPage, ProjectList, ProjectView } from "../projections/views.js"
import { CliError } from "./errors.js"
import { runFilePath } from "./runFile.js"

export type ProjectWire = Schema.Schema.Encoded<typeof ProjectView>
export type DeploymentWire = Schema.Schema.Encoded<typeof DeploymentView>
export type DeploymentPageWire = Schema.Schema.Encoded<typeof DeploymentPage>
export type EventPageWire = Schema.Schema.Encoded<typeof EventPage>
export type AuditEventWire = EventPageWire["events"][number]
export type CommandAcceptedWire = Schema.Schema.Encoded<typeof CommandAccepted>
export type RollbackAcceptedWire = Schema.Schema.Encoded<typeof RollbackAccepted>
export type ProjectAcceptedWire = Schema.Schema.Encoded<typeof ProjectAccepted>
export type CreateProjectBody = Schema.Schema.Encoded<typeof CreateProjectRequest>
export type DeployBody = Schema.Schema.Encoded<typeof DeployRequest>
export type ProjectListWire = Schema.Schema.Encoded<typeof ProjectList>
export type CreateTokenBody = Schema.Schema.Encoded<typeof CreateTokenRequest>
export type TokenCreatedWire = Schema.Schema.Encoded<typeof TokenCreated>
export type TokenListWire = Schema.Schema.Encoded<typeof TokenList>

export const defaultApiUrl = "http://127.0.0.1:8787"
const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

/** The run.json files that may name a running Berth: the checkout's data dir (where `npm start` writes it), then the cwd's. */
const runFiles = (): Array<string> => [...new Set([resolve(projectRoot, process.env["BERTH_DATA_DIR"] ?? ".berth", "run.json"), runFilePath()])]

export interface ApiToken {
  readonly token: string
  /** Where it came from, for error messages. */
  readonly source: string
}

/** BERTH_TOKEN, else the admin token `npm start` keeps beside run.json (the checkout's data dir, then the cwd's). */
export const resolveToken = (): ApiToken | undefined => {
  const fromEnv = process.env["BERTH_TOKEN"]?.trim()
  if (fromEnv !== undefined && fromEnv !== "") return { token: fromEnv, source: "BERTH_TOKEN" }
  for (const runFile of runFiles()) {
    const file = join(dirname(runFile), "admin-token")
    try {
      const token = readFileSync(file, "utf8").trim()
      if (token !== "") return { token, source: file }
    } catch {
      // Not there (or not ours to read): try the next place.
    }
  }
  return undefined
}

const apiFromRunFile = (): { readonly url: string; readonly file: string } | undefined => {
  for (const file of runFiles()) {
    if (!existsSync(file)) continue
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, "utf8"))
      if (typeof parsed === "object" && parsed !== null && "api" in parsed && typeof parsed.api === "string") return { url: parsed.api, file }
    } catch {
      // A torn or foreign file names no API: fall through to the default.
    }
  }
  return undefined
}

export interface ApiUrl {
  readonly url: string
  /** Where it came from, for error messages. */
  readonly source: string
}

export const resolveApiUrl = (flag: string | undefined): ApiUrl => {
  const fromEnv = process.env["BERTH_API_URL"]
  const fromRunFile = flag === undefined && (fromEnv === undefined || fromEnv === "") ? apiFromRunFile() : undefined
  const chosen: ApiUrl = flag !== undefined
    ? { url: flag, source: "--api" }
    : fromEnv !== undefined && fromEnv !== ""
    ? { url: fromEnv, source: "BERTH_API_URL" }
    : fromRunFile !== undefined
    ? { url: fromRunFile.url, source: fromRunFile.file }
    : { url: defaultApiUrl, source: "default" }
  let parsed: URL
  try {
    parsed = new URL(chosen.url)
  } catch {
    throw new CliError(`invalid API URL "${chosen.url}" (from ${chosen.source}): expected http://host:port`)
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new CliError(`invalid API URL "${chosen.url}" (from ${chosen.source}): expected http://host:port`)
  }
  return { url: chosen.url.replace(/\/+$/, ""), source: chosen.source }
}

interface Answer {
  readonly status: number
  readonly body: unknown
}

const errorCode = (error: unknown): string | undefined => {
  for (let current: unknown = error, depth = 0; current !== undefined && depth < 5; depth++) {
    if (typeof current !== "object" || current === null) return undefined
    if ("code" in current && typeof current.code === "string") return current.code
    current = "cause" in current ? current.cause : undefined
  }
  return undefined
}

/** The message of the deepest cause (fetch's own is only "fetch failed"). */
const innermostMessage = (error: unknown): string => {
  let message = String(error)
  for (let current: unknown = error, depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) message = current.message
    else if (typeof current === "string") message = current
    current = typeof current === "object" && current !== null && "cause" in current ? current.cause : undefined
  }
  return message
}

const unreachableCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "UND_ERR_SOCKET"])

/** `detail (HTTP status)` for a problem document, else the status line. */
const problemLine = (answer: Answer): string => {
  const body = answer.body
  const detail = typeof body === "object" && body !== null && "detail" in body && typeof body.detail === "string"
    ? body.detail
    : typeof body === "object" && body !== null && "title" in body && typeof body.title === "string"
    ? body.title
    : "request failed"
  return `${detail} (HTTP ${answer.status})`
}

/** The problem line, and what the CLI user can do about that status, if the command knows. */
const withHint = (answer: Answer, hints: Readonly<Record<number, string>>): string => {
  const hint = hints[answer.status]
  return hint === undefined ? problemLine(answer) : `${problemLine(answer)}; ${hint}`
}

/** A deployment id used by several projects (409 on the unscoped routes). */
const ambiguityHint: Readonly<Record<number, string>> = { 409: "say which with --project <projectId>" }

/**
 * Checks that `body` is an object with the fields the CLI relies on, and types it as the API's wire
 * type `T` (the server encodes exactly that Schema).
 */
const shaped = <T>(body: unknown, fields: ReadonlyArray<string>, what: string, url: string): T => {
  if (typeof body !== "object" || body === null || fields.some((field) => !(field in body))) {
    throw new CliError(`unexpected answer from ${url} for ${what}: ${JSON.stringify(body)?.slice(0, 200) ?? "nothing"}`)
  }
  return body as T
}

export interface CheckWire {
  readonly ok: boolean
  readonly detail: string
}

/** GET /readyz (src/api/healthViews.ts). */
export interface ReadinessWire {
  readonly status: "ready" | "degraded" | "unavailable"
  readonly checks: Readonly<Record<string, CheckWire>>
  readonly roles: ReadonlyArray<{
    readonly role: string
    readonly instance: string
    readonly pid: number
    readonly ready: boolean
    readonly ageMs: number
    readonly startedAt: number
    readonly checks: Readonly<Record<string, CheckWire>>
  }>
  readonly missing: ReadonlyArray<string>
}

/** What to do about a 401, said once. */
const unauthorizedHint = (token: ApiToken | undefined): string =>
  token === undefined
    ? "no API token: set BERTH_TOKEN (berth token create makes one), or run where `npm start` keeps .berth/admin-token"
    : `the API refused the token from ${token.source}`

type Method = "GET" | "POST" | "DELETE"

export class ApiClient {
  constructor(readonly url: string, readonly timeoutMs = 30_000, readonly token: ApiToken | undefined = resolveToken()) {}

  private async request(method: Method, path: string, body?: unknown): Promise<Answer> {
    let response: Response
    const authorization: Record<string, string> = this.token === undefined ? {} : { authorization: `Bearer ${this.token.token}` }
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: body === undefined
          ? { accept: "application/json", ...authorization }
          : { accept: "application/json", "content-type": "application/json", ...authorization },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs)
      })
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") {
        throw new CliError(`the Berth API at ${this.url} did not answer within ${this.timeoutMs / 1000}s`)
      }
      const code = errorCode(error)
      if (code === "ECONNREFUSED") throw new CliError(`cannot reach the Berth API at ${this.url}: is it running? (npm start)`)
      if (code !== undefined && unreachableCodes.has(code)) throw new CliError(`cannot reach the Berth API at ${this.url}: ${code}`)
      throw new CliError(`cannot reach the Berth API at ${this.url}: ${innermostMessage(error)}`)
    }
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text === "" ? undefined : JSON.parse(text)
    } catch {
      // not JSON: keep the text (reported below if it was an error)
    }
    if (response.status === 401) throw new CliError(`${problemLine({ status: 401, body: parsed })}: ${unauthorizedHint(this.token)}`)
    return { status: response.status, body: parsed }
  }

  private async expectOk(method: Method, path: string, body?: unknown, hints: Readonly<Record<number, string>> = {}): Promise<unknown> {
    const answer = await this.request(method, path, body)
    if (answer.status >= 400) throw new CliError(withHint(answer, hints))
    return answer.body
  }

  /** GET that answers undefined for a 404 (something not projected yet, or unknown). */
  private async getIfFound(path: string, hints: Readonly<Record<number, string>> = {}): Promise<Answer | undefined> {
    const answer = await this.request("GET", path)
    if (answer.status === 404) return undefined
    if (answer.status >= 400) throw new CliError(withHint(answer, hints))
    return answer
  }

  /** Readiness, also when the API answers 503 (then its body says what is down). */
  async readiness(): Promise<ReadinessWire> {
    const answer = await this.request("GET", "/readyz")
    if (answer.status !== 200 && answer.status !== 503) throw new CliError(problemLine(answer))
    return shaped(answer.body, ["status", "checks", "roles", "missing"], "readiness", this.url)
  }

  async project(projectId: string): Promise<ProjectWire> {
    return shaped(await this.expectOk("GET", `/v1/projects/${encodeURIComponent(projectId)}`), ["projectId", "environments"], "a project", this.url)
  }

  async findProject(projectId: string): Promise<ProjectWire | undefined> {
    const answer = await this.getIfFound(`/v1/projects/${encodeURIComponent(projectId)}`)
    return answer === undefined ? undefined : shaped(answer.body, ["projectId", "environments"], "a project", this.url)
  }

  async deployments(projectId: string, limit: number): Promise<DeploymentPageWire> {
    const path = `/v1/projects/${encodeURIComponent(projectId)}/deployments?limit=${limit}`
    return shaped(await this.expectOk("GET", path), ["deployments"], "deployments", this.url)
  }

  /** With a project: the project-scoped route; without, the id alone (409 when several projects use it). */
  async findDeployment(deploymentId: string, projectId?: string): Promise<DeploymentWire | undefined> {
    const answer = await this.getIfFound(this.deploymentPath(deploymentId, projectId), ambiguityHint)
    return answer === undefined ? undefined : shaped(answer.body, ["deploymentId", "status", "steps", "instances", "domains"], "a deployment", this.url)
  }

  async events(projectId: string, options: { readonly after?: number; readonly limit?: number } = {}): Promise<EventPageWire> {
    return shaped(await this.expectOk("GET", this.eventsPath(projectId, options)), ["events", "nextCursor"], "events", this.url)
  }

  /** Events, or undefined while nothing is known about the project (404). */
  async findEvents(projectId: string, options: { readonly after?: number; readonly limit?: number } = {}): Promise<EventPageWire | undefined> {
    const answer = await this.getIfFound(this.eventsPath(projectId, options))
    return answer === undefined ? undefined : shaped(answer.body, ["events", "nextCursor"], "events", this.url)
  }

  private deploymentPath(deploymentId: string, projectId: string | undefined): string {
    const deployment = `deployments/${encodeURIComponent(deploymentId)}`
    return projectId === undefined ? `/v1/${deployment}` : `/v1/projects/${encodeURIComponent(projectId)}/${deployment}`
  }

  private eventsPath(projectId: string, options: { readonly after?: number; readonly limit?: number }): string {
    const query = new URLSearchParams()
    if (options.limit !== undefined) query.set("limit", String(options.limit))
    if (options.after !== undefined) query.set("after", String(options.after))
    const search = query.toString()
    return `/v1/projects/${encodeURIComponent(projectId)}/events${search === "" ? "" : `?${search}`}`
  }

  async projects(): Promise<ProjectListWire> {
    return shaped(await this.expectOk("GET", "/v1/projects"), ["projects"], "projects", this.url)
  }

  async createToken(body: CreateTokenBody): Promise<TokenCreatedWire> {
    return shaped(await this.expectOk("POST", "/v1/tokens", body), ["tokenId", "token", "role"], "a new token", this.url)
  }

  async tokens(): Promise<TokenListWire> {
    return shaped(await this.expectOk("GET", "/v1/tokens"), ["tokens"], "tokens", this.url)
  }

  async revokeToken(tokenId: string): Promise<void> {
    await this.expectOk("DELETE", `/v1/tokens/${encodeURIComponent(tokenId)}`)
  }

  async createProject(body: CreateProjectBody): Promise<ProjectAcceptedWire> {
    return shaped(await this.expectOk("POST", "/v1/projects", body), ["commandId", "projectId"], "CreateProject", this.url)
  }

  async deploy(projectId: string, body: DeployBody): Promise<CommandAcceptedWire> {
    const path = `/v1/projects/${encodeURIComponent(projectId)}/deployments`
    return shaped(await this.expectOk("POST", path, body), ["commandId", "deploymentId"], "Deploy", this.url)
  }

  async rollback(
    projectId: string,
    body: { readonly targetDeploymentId: string; readonly sourceDeploymentId?: string; readonly commandId?: string }
  ): Promise<RollbackAcceptedWire> {
    const path = `/v1/projects/${encodeURIComponent(projectId)}/rollback`
    return shaped(await this.expectOk("POST", path, body), ["commandId", "sourceDeploymentId", "targetDeploymentId"], "Rollback", this.url)
  }

  async promote(projectId: string, body: { readonly deploymentId: string; readonly commandId?: string }): Promise<CommandAcceptedWire> {
    const path = `/v1/projects/${encodeURIComponent(projectId)}/promote`
    return shaped(await this.expectOk("POST", path, body), ["commandId", "deploymentId"], "Promote", this.url)
  }

  async cancel(deploymentId: string, body: { readonly commandId?: string }, projectId?: string): Promise<CommandAcceptedWire> {
    const path = `${this.deploymentPath(deploymentId, projectId)}/cancel`
    const hints = projectId === undefined ? ambiguityHint : {}
    return shaped(await this.expectOk("POST", path, body, hints), ["commandId", "projectId", "deploymentId"], "CancelDeployment", this.url)
  }
}
