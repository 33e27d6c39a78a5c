/**
 * Generated hostnames of a deployment (Unkey spec 3.3 and 5.2), as pure functions.
 * Differences from Unkey, on purpose: no random suffix (ours is a deterministic hash, so a replay
 * yields the same names); slugs never start or end with a hyphen; every label fits DNS's 63 characters.
 */
import type { DomainAssignment } from "./events.js"

const MAX_LABEL = 63

/**
 * Unkey's sluggify: non-alphanumerics become spaces, runs of whitespace one hyphen, lower-cased,
 * cut to 80 characters. Unlike Unkey, leading and trailing hyphens are dropped (a DNS label may not
 * start or end with one).
 */
export const sluggify = (input: string): string =>
  input
    .replace(/[^a-zA-Z0-9\s]/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/ /g, "-")
    .toLowerCase()
    .slice(0, 80)
    // Words are now joined by single hyphens: only the cut at 80 can leave one, at the end.
    .replace(/-$/, "")

/** FNV-1a, 32 bit, in base 36: a short stable fingerprint for suffixes. */
export const stableHash = (input: string): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < input.length; i++) {
    hash ^= input.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash.toString(36).padStart(7, "0")
}

/**
 * Fits a label into 63 characters. A label that is too long is cut and given a deterministic
 * suffix derived from the whole label, so two long labels that share a prefix stay distinct.
 */
export const fitLabel = (label: string): string => {
  if (label.length <= MAX_LABEL) return label
  const suffix = stableHash(label)
  const head = label.slice(0, MAX_LABEL - suffix.length - 1).replace(/-+$/, "")
  return `${head}-${suffix}`
}

/**
 * Ids are case-sensitive and may use `_` and `-` freely, but a hostname label is lower-case and
 * sluggify folds `_` into `-`: Unkey maps `d_AbC` and `d_abc` to one name (spec 5.2). A conventional id
 * (lower-case, single underscores, e.g. `dep_1`) keeps its plain slug; any other id gets a
 * deterministic suffix of the exact id, so distinct ids always get distinct hostnames.
 */
export const deploymentLabel = (deploymentId: string): string => {
  const slug = sluggify(deploymentId)
  return slug.replace(/-/g, "_") === deploymentId ? slug : `${slug}-${stableHash(deploymentId).slice(-4)}`
}

export interface DomainInputs {
  readonly workspaceSlug: string
  readonly projectSlug: string
  readonly environmentSlug: string
  readonly isProduction: boolean
  readonly apexDomain: string
  readonly deploymentId: string
  readonly gitSha?: string | undefined
  readonly branch?: string | undefined
}

/**
 * Every hostname a deployment gets, in Unkey's order (spec 5.2):
 * commit (when a sha is known), branch (when known), environment, live (production), per-deployment.
 */
export const buildDomains = (input: DomainInputs): ReadonlyArray<DomainAssignment> => {
  const prefix = input.projectSlug
  const host = (middle: string) => `${fitLabel(`${prefix}${middle}-${input.workspaceSlug}`)}.${input.apexDomain}`
  const domains: Array<DomainAssignment> = []
  if (input.gitSha !== undefined && input.gitSha !== "") {
    domains.push({ hostname: host(`-git-${input.gitSha.slice(0, 7).toLowerCase()}`), sticky: "none" })
  }
  const branch = input.branch === undefined ? "" : sluggify(input.branch)
  if (branch !== "") {
    domains.push({ hostname: host(`-git-${branch}`), sticky: "branch" })
  }
  domains.push({ hostname: host(`-${input.environmentSlug}`), sticky: "environment" })
  if (input.isProduction) {
    domains.push({ hostname: host(""), sticky: "live" })
  }
  domains.push({ hostname: host(`-${deploymentLabel(input.deploymentId)}`), sticky: "deployment" })
  return domains
}
