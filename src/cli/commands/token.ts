/**
 * `berth token create|list|revoke`: the API tokens (POST/GET /v1/tokens, DELETE /v1/tokens/:id);
 * every one needs an admin token. `create` prints the new token once: Berth keeps only its hash.
 */
import type { TokenListWire } from "../apiClient.js"
import { defineCommand, exitCodes, usageError } from "../command.js"
import { table } from "../format.js"

const roles = ["read", "deploy", "admin"] as const
type Role = (typeof roles)[number]
const isRole = (value: string): value is Role => (roles as ReadonlyArray<string>).includes(value)

const createName = "token create"

export const tokenCreate = defineCommand({
  name: createName,
  summary: "create an API token (prints it once)",
  usage: "(--workspace <slug> | --all-workspaces) --role read|deploy|admin [--expires <30d>] [--description <text>]",
  description: [
    "read: GET only; deploy: also create projects, deploy, roll back, promote, cancel; admin: also manage tokens.",
    "A token reaches one workspace, or every one with --all-workspaces. The token is printed once; Berth",
    "stores only its sha256 hash. Use it with: export BERTH_TOKEN=<token>."
  ],
  positionals: { min: 0, max: 0 },
  options: {
    workspace: { kind: "string", value: "<slug>", description: "the one workspace the token reaches" },
    "all-workspaces": { kind: "boolean", description: "the token reaches every workspace" },
    role: { kind: "string", value: "<role>", description: "read, deploy or admin" },
    expires: { kind: "string", value: "<lifetime>", description: "e.g. 30d, 12h, 90m, 2w (default: never)" },
    description: { kind: "string", value: "<text>", description: "what the token is for (shown by token list)" }
  },
  examples: ["berth token create --workspace acme --role deploy --expires 30d", "berth token create --all-workspaces --role read"],
  run: async ({ options }, context) => {
    const all = options["all-workspaces"] === true
    if (all === (options.workspace !== undefined)) throw usageError(createName, "give exactly one of --workspace <slug> and --all-workspaces")
    const role = options.role
    if (role === undefined || !isRole(role)) throw usageError(createName, `--role must be one of ${roles.join(", ")}`)
    const created = await context.api().createToken({
      workspace: options.workspace ?? null,
      role,
      ...(options.expires === undefined ? {} : { expiresIn: options.expires }),
      ...(options.description === undefined ? {} : { description: options.description })
    })
    context.out(created.token)
    context.err(
      `token ${created.tokenId}: role ${created.role}, workspace ${created.workspace ?? "* (all)"}, ` +
        `expires ${created.expiresAt ?? "never"}. Shown once: Berth keeps only its hash.`
    )
    return exitCodes.ok
  }
})

const rows = (list: TokenListWire): Array<Array<string>> => [
  ["ID", "WORKSPACE", "ROLE", "CREATED", "EXPIRES", "BY", "DESCRIPTION"],
  ...list.tokens.map((token) => [
    token.tokenId,
    token.workspace ?? "*",
    token.role,
    token.createdAt,
    token.expiresAt ?? "never",
    token.createdBy,
    token.description ?? ""
  ])
]

export const tokenList = defineCommand({
  name: "token list",
  summary: "list API tokens (never their secrets)",
  usage: "[--json]",
  positionals: { min: 0, max: 0 },
  options: { json: { kind: "boolean", description: "print the API's JSON" } },
  run: async ({ options }, context) => {
    const list = await context.api().tokens()
    if (options.json === true) context.out(JSON.stringify(list, null, 2))
    else if (list.tokens.length === 0) context.out("no tokens (the admin token is not listed)")
    else for (const line of table(rows(list))) context.out(line)
    return exitCodes.ok
  }
})

export const tokenRevoke = defineCommand({
  name: "token revoke",
  summary: "revoke an API token (it stops working at once)",
  usage: "<tokenId>",
  positionals: { min: 1, max: 1 },
  options: {},
  examples: ["berth token revoke tok_0123456789abcdef"],
  run: async ({ positionals }, context) => {
    const tokenId = positionals[0] ?? ""
    await context.api().revokeToken(tokenId)
    context.out(`token ${tokenId} revoked`)
    return exitCodes.ok
  }
})
