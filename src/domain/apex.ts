/**
 * Which apex domains projects may use: an operator's list (BERTH_APEX_DOMAINS), so no tenant can
 * make Berth serve names in a zone the platform does not own. Exact names only: a subdomain of an
 * allowed apex is another apex, and must be listed itself. Pure.
 */

/** The default: what a laptop resolves to itself. */
export const defaultApexDomains: ReadonlyArray<string> = ["berth.localhost", "localhost"]

/**
 * A lowercase domain name: DNS labels (at most 63 characters, inner hyphens) joined by dots, at most
 * 200 characters. The one definition: the ApexDomain Schema (ids.ts) and BERTH_APEX_DOMAINS use it.
 */
export const apexPattern = /^(?=.{1,200}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/

/** A comma-separated list (spaces and a trailing dot ignored, case folded), or the problem with it. */
export const parseApexDomains = (text: string): { readonly domains: ReadonlyArray<string> } | { readonly problem: string } => {
  const domains = [...new Set(text.split(",").map((part) => part.trim().toLowerCase().replace(/\.$/, "")).filter((part) => part !== ""))]
  if (domains.length === 0) return { problem: "must name at least one apex domain (e.g. berth.localhost,localhost)" }
  const bad = domains.find((domain) => !apexPattern.test(domain))
  return bad === undefined ? { domains } : { problem: `"${bad}" is not a lowercase domain name` }
}

/** Why `apex` may not be used, or undefined when it may. */
export const apexIssue = (apex: string, allowed: ReadonlyArray<string>): string | undefined =>
  allowed.includes(apex) ? undefined : `apex domain ${apex} is not allowed: this Berth serves ${allowed.join(", ")}`
