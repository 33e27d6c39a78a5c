import { Schema } from "effect"
import { apexPattern } from "./apex.js"

/**
 * Ids double as NATS subject tokens (`berth.cmd.<projectId>`), so they are restricted to characters
 * that are safe in a token and in a KV key. Conventional prefixes: proj_, env_, dep_, cmd_.
 */
export const Token = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]+$/, {
    message: () => "must be 1-128 characters of A-Z a-z 0-9 _ -"
  }),
  Schema.maxLength(128, { message: () => "must be 1-128 characters of A-Z a-z 0-9 _ -" })
)

export const ProjectId = Token.annotations({ identifier: "ProjectId" })
export const EnvironmentId = Token.annotations({ identifier: "EnvironmentId" })
export const DeploymentId = Token.annotations({ identifier: "DeploymentId" })
export const CommandId = Token.annotations({ identifier: "CommandId" })

/** A DNS-label-safe slug: what workspace, project and environment slugs must look like. */
export const Slug = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
    message: () => "must be a lowercase DNS label: a-z 0-9 and inner hyphens, at most 63 characters"
  })
)

export const ApexDomain = Schema.String.pipe(
  Schema.pattern(apexPattern, {
    message: () => "must be a lowercase domain name such as berth.localhost"
  })
)
