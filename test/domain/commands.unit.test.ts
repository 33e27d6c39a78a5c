/**
 * The command wire contract (commands.ts) at its bounds, decoded as the intake decodes it: each row is
 * accepted, or refused with a message naming the field. Lower and upper bounds are both pinned (e.g.
 * replicas 1 and 64 accepted, 0 and 65 refused).
 */
import { Either, JSONSchema, ParseResult, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { Command, CommandHeader, commandTypes, CreateProject, Deploy } from "../../src/domain/commands.js"

const decode = Schema.decodeUnknownEither(Command)

/** "ok", or every issue as "path: message", joined (so a row can look for its field's message). */
const verdict = (value: unknown): string => {
  const decoded = decode(value)
  return Either.isRight(decoded)
    ? "ok"
    : ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) => `${issue.path.join(".")}: ${issue.message}`).join(" | ")
}

const deploy = (extra: Record<string, unknown> = {}) => ({
  type: "Deploy",
  commandId: "cmd_1",
  projectId: "proj_1",
  deploymentId: "dep_1",
  environmentId: "env_prod",
  source: { image: "ghcr.io/acme/shop:1" },
  ...extra
})
const createProject = (extra: Record<string, unknown> = {}) => ({
  type: "CreateProject",
  commandId: "cmd_1",
  projectId: "proj_1",
  workspace: "acme",
  slug: "shop",
  apexDomain: "berth.test",
  environments: [{ id: "env_prod", slug: "production", kind: "production" }],
  ...extra
})
const rollback = (extra: Record<string, unknown> = {}) => ({
  type: "Rollback", commandId: "cmd_1", projectId: "proj_1", sourceDeploymentId: "dep_2", targetDeploymentId: "dep_1", ...extra
})

interface Case {
  readonly name: string
  readonly command: unknown
  /** "ok", or a fragment of the refusal ("path: message"). */
  readonly then: string
}

const cases: ReadonlyArray<Case> = [
  // Deploy: sizing
  { name: "replicas 1 (lower bound)", command: deploy({ replicas: 1 }), then: "ok" },
  { name: "replicas 64 (upper bound)", command: deploy({ replicas: 64 }), then: "ok" },
  { name: "replicas 0", command: deploy({ replicas: 0 }), then: "replicas: replicas must be between 1 and 64" },
  { name: "replicas 65", command: deploy({ replicas: 65 }), then: "replicas: replicas must be between 1 and 64" },
  { name: "replicas 1.5", command: deploy({ replicas: 1.5 }), then: "replicas: Expected an integer, actual 1.5" },
  { name: "port 1 (lower bound)", command: deploy({ port: 1 }), then: "ok" },
  { name: "port 65535 (upper bound)", command: deploy({ port: 65_535 }), then: "ok" },
  { name: "port 0", command: deploy({ port: 0 }), then: "port: Port must be between 1 and 65535" },
  { name: "port 65536", command: deploy({ port: 65_536 }), then: "port: Port must be between 1 and 65535" },
  // Deploy: source
  { name: "no source (the decider answers it with Unkey's message)", command: deploy({ source: undefined }), then: "ok" },
  { name: "an image of 1 character", command: deploy({ source: { image: "i" } }), then: "ok" },
  { name: "an empty image", command: deploy({ source: { image: "" } }), then: "source.image: Expected a string at least 1 character(s) long" },
  { name: "a command of one argument", command: deploy({ source: { command: ["node"] } }), then: "ok" },
  { name: "an empty command", command: deploy({ source: { command: [] } }), then: "source.command: Expected an array of at least 1 item(s)" },
  // Deploy: git
  { name: "a sha of 7 hex digits", command: deploy({ git: { sha: "abcdef0" } }), then: "ok" },
  { name: "a sha of 40 hex digits", command: deploy({ git: { sha: "A".repeat(40) } }), then: "ok" },
  { name: "a sha of 6 hex digits", command: deploy({ git: { sha: "abcdef" } }), then: "git.sha: must be 7-40 hex digits" },
  { name: "a sha of 41 hex digits", command: deploy({ git: { sha: "a".repeat(41) } }), then: "git.sha: must be 7-40 hex digits" },
  { name: "a sha with a non-hex digit", command: deploy({ git: { sha: "abcdefg" } }), then: "git.sha: must be 7-40 hex digits" },
  { name: "a sha with text around it", command: deploy({ git: { sha: " abcdef0" } }), then: "git.sha: must be 7-40 hex digits" },
  { name: "a branch of 1 character", command: deploy({ git: { sha: "abcdef0", branch: "b" } }), then: "ok" },
  { name: "an empty branch", command: deploy({ git: { sha: "abcdef0", branch: "" } }), then: "git.branch: Expected a string at least 1 character(s) long" },
  // Deploy: env
  { name: "an empty env", command: deploy({ env: {} }), then: "ok" },
  { name: "env with a non-string value", command: deploy({ env: { A: 1 } }), then: "env.A: Expected string, actual 1" },
  // Ids
  { name: "an id of 128 characters", command: deploy({ deploymentId: "d".repeat(128) }), then: "ok" },
  { name: "an id of 129 characters", command: deploy({ deploymentId: "d".repeat(129) }), then: "deploymentId: must be 1-128 characters of A-Z a-z 0-9 _ -" },
  { name: "an empty id", command: deploy({ commandId: "" }), then: "commandId: must be 1-128 characters of A-Z a-z 0-9 _ -" },
  { name: "an id with a dot (a NATS token separator)", command: deploy({ projectId: "proj.1" }), then: "projectId: must be 1-128 characters" },
  { name: "an environment id with a space", command: deploy({ environmentId: "env prod" }), then: "environmentId: must be 1-128 characters" },
  // CreateProject
  { name: "a minimal CreateProject", command: createProject(), then: "ok" },
  { name: "a default branch of 1 character", command: createProject({ defaultBranch: "b" }), then: "ok" },
  { name: "an empty default branch", command: createProject({ defaultBranch: "" }), then: "defaultBranch: Expected a string at least 1 character(s) long" },
  { name: "no environments", command: createProject({ environments: [] }), then: "environments: Expected an array of at least 1 item(s)" },
  {
    name: "an environment kind that does not exist",
    command: createProject({ environments: [{ id: "env_x", slug: "x", kind: "staging" }] }),
    then: `environments.0.kind: Expected "production", actual "staging"`
  },
  { name: "a preview environment", command: createProject({ environments: [{ id: "env_p", slug: "preview", kind: "preview" }] }), then: "ok" },
  { name: "an upper-case workspace", command: createProject({ workspace: "Acme" }), then: "workspace: must be a lowercase DNS label" },
  { name: "an apex domain with upper case", command: createProject({ apexDomain: "Berth.test" }), then: "apexDomain: must be a lowercase domain name" },
  // openApiPath: a path on the instance, never another host
  { name: "openApiPath /openapi.yaml", command: createProject({ openApiPath: "/openapi.yaml" }), then: "ok" },
  { name: "openApiPath / (the root)", command: createProject({ openApiPath: "/" }), then: "ok" },
  { name: "openApiPath with a query and inner //", command: createProject({ openApiPath: "/docs//openapi.json?v=2" }), then: "ok" },
  { name: "openApiPath with a leading //", command: createProject({ openApiPath: "//evil.example/openapi.yaml" }), then: "openApiPath: must be a path: one leading / and no whitespace" },
  { name: "openApiPath of only //", command: createProject({ openApiPath: "//" }), then: "openApiPath: must be a path" },
  { name: "openApiPath without a leading /", command: createProject({ openApiPath: "openapi.yaml" }), then: "openApiPath: must be a path" },
  { name: "openApiPath with a space", command: createProject({ openApiPath: "/open api.yaml" }), then: "openApiPath: must be a path" },
  { name: "openApiPath with a newline at the end", command: createProject({ openApiPath: "/openapi.yaml\n" }), then: "openApiPath: must be a path" },
  { name: "openApiPath empty", command: createProject({ openApiPath: "" }), then: "openApiPath: must be a path" },
  // Rollback, Promote, CancelDeployment
  { name: "a Rollback", command: rollback(), then: "ok" },
  { name: "a Rollback without a target", command: rollback({ targetDeploymentId: undefined }), then: "targetDeploymentId: Expected string" },
  { name: "a Rollback with a bad source id", command: rollback({ sourceDeploymentId: "dep/2" }), then: "sourceDeploymentId: must be 1-128 characters" },
  { name: "a Promote", command: { type: "Promote", commandId: "cmd_1", projectId: "proj_1", deploymentId: "dep_1" }, then: "ok" },
  { name: "a Promote without a deployment", command: { type: "Promote", commandId: "cmd_1", projectId: "proj_1" }, then: "deploymentId: is missing" },
  { name: "a CancelDeployment", command: { type: "CancelDeployment", commandId: "cmd_1", projectId: "proj_1", deploymentId: "dep_1" }, then: "ok" },
  { name: "an unknown type", command: { type: "Restart", commandId: "cmd_1", projectId: "proj_1" }, then: `type: Expected "CreateProject" | "Deploy" | "Rollback" | "Promote" | "CancelDeployment", actual "Restart"` }
]

describe("the Command schema", () => {
  it.each(cases)("$name", ({ command, then }) => {
    const line = verdict(command)
    if (then === "ok") expect(line).toBe("ok")
    else expect(line).toContain(then)
  })

  it("keeps optional fields out of the decoded command when absent", () => {
    const decoded = decode(deploy())
    expect(Either.getOrThrow(decoded)).toEqual(deploy())
  })

  it("names every command type the union decodes", () => {
    expect(commandTypes).toEqual(["CreateProject", "Deploy", "Rollback", "Promote", "CancelDeployment"])
  })
})

describe("the CommandHeader (read before the command is decoded)", () => {
  const header = Schema.decodeUnknownEither(CommandHeader)
  it.each([
    { name: "a type of 64 characters", value: { type: "T".repeat(64), commandId: "cmd_1", projectId: "proj_1" }, ok: true },
    { name: "a type of 65 characters", value: { type: "T".repeat(65), commandId: "cmd_1", projectId: "proj_1" }, ok: false },
    { name: "a header without a projectId", value: { type: "Deploy", commandId: "cmd_1" }, ok: false },
    { name: "a header with a bad commandId", value: { type: "Deploy", commandId: "c md", projectId: "proj_1" }, ok: false }
  ])("$name", ({ value, ok }) => {
    expect(Either.isRight(header(value))).toBe(ok)
  })

  it("refuses a type over 64 characters with the limit in words", () => {
    const decoded = header({ type: "T".repeat(65), commandId: "cmd_1", projectId: "proj_1" })
    expect(Either.isLeft(decoded) && ParseResult.TreeFormatter.formatErrorSync(decoded.left)).toContain("at most 64 characters (got 65)")
  })
})

describe("the bounds as JSON Schema (what the API's OpenAPI document tells clients)", () => {
  // Property schemas by path, without the $refs' shared definitions.
  const deployProperties = (JSONSchema.make(Deploy) as unknown as { properties: Record<string, Record<string, unknown>> }).properties
  const createProperties = (JSONSchema.make(CreateProject) as unknown as { properties: Record<string, Record<string, unknown>> }).properties
  const variants = (deployProperties["source"]?.["anyOf"] ?? []) as ReadonlyArray<{ properties: Record<string, Record<string, unknown>> }>

  it("Deploy publishes its bounds", () => {
    expect(variants[0]?.properties["image"]).toMatchObject({ minLength: 1, maxLength: 512 })
    expect(variants[1]?.properties["command"]).toMatchObject({
      minItems: 1,
      maxItems: 64,
      description: "at most 64 arguments of at most 4096 UTF-8 bytes each"
    })
    expect(deployProperties["replicas"]).toMatchObject({ minimum: 1, maximum: 64 })
    expect(deployProperties["port"]).toMatchObject({ minimum: 1, maximum: 65_535 })
    expect(deployProperties["env"]).toMatchObject({
      maxProperties: 256,
      description: "at most 256 variables named [A-Za-z_][A-Za-z0-9_]*, names of at most 128 characters, 65536 UTF-8 bytes of names and values in all"
    })
    expect((deployProperties["git"] as { properties: Record<string, unknown> }).properties["branch"]).toMatchObject({ minLength: 1, maxLength: 255 })
  })

  it("names the command and the ids it is made of (the names schema documents give them)", () => {
    const command = JSONSchema.make(Command) as unknown as { $ref: string; $defs: Record<string, unknown> }
    expect(command.$ref).toBe("#/$defs/Command")
    expect(Object.keys(command.$defs).sort()).toStrictEqual(["Command", "CommandId", "DeploymentId", "EnvironmentId", "Int", "ProjectId"])
  })

  it("CreateProject publishes its bounds", () => {
    expect(createProperties["openApiPath"]).toMatchObject({ maxLength: 1024, pattern: "^\\/(?!\\/)\\S*$" })
    expect(createProperties["defaultBranch"]).toMatchObject({ minLength: 1, maxLength: 255 })
    expect(createProperties["environments"]).toMatchObject({ minItems: 1, maxItems: 16 })
  })
})
