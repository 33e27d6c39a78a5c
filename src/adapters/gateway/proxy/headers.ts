/**
 * Header rewriting between client and upstream: drops hop-by-hop headers, sets X-Forwarded-For,
 * -Proto and -Host on the way in and (when debugging) X-Berth-Deployment on the way out, and renders the raw request
 * head a WebSocket upgrade sends down its tunnel.
 *
 * What a client says about who it is counts only when it is a trusted proxy: from anyone else the
 * forwarded headers are replaced by what the socket shows (its address, the listener's scheme, the
 * Host header), and Forwarded, X-Real-IP and any other X-Forwarded-* are dropped, so an upstream can
 * believe X-Forwarded-For. A trusted proxy's chain is kept with the proxy appended.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http"
import { plainAddress, type TrustedProxies } from "./trustedProxies.js"

/** Headers that describe one connection, never forwarded (RFC 9110 7.6.1), plus `expect`, already answered. */
const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect"
])

/** The headers the gateway always writes itself. */
const setByGateway = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"])

/** Claims about the original client, believed only from a trusted proxy. */
const isClientClaim = (name: string): boolean => name.startsWith("x-forwarded-") || name === "forwarded" || name === "x-real-ip"

export interface ForwardingPolicy {
  /** The scheme clients use to reach this gateway listener. */
  readonly scheme: "http" | "https"
  readonly trustedProxies: TrustedProxies
}

/** What goes upstream about the client: the headers to set, and which of the client's to keep. */
export interface Forwarding {
  readonly headers: Readonly<Record<string, string>>
  /** False for a (lower-case) header name the client sent that must not reach the upstream. */
  readonly keeps: (name: string) => boolean
}

const connectionTokens = (headers: IncomingHttpHeaders): ReadonlySet<string> =>
  new Set((headers.connection ?? "").split(",").map((token) => token.trim().toLowerCase()).filter((token) => token !== ""))

const joined = (value: string | ReadonlyArray<string> | undefined): string =>
  (typeof value === "string" ? value : (value ?? []).join(", ")).trim()

const untrusted = (name: string) => !isClientClaim(name)
const trusted = (name: string) => !setByGateway.has(name)

/** The forwarded headers for a request, by whether its direct peer is a trusted proxy. */
export const forwarding = (request: IncomingMessage, policy: ForwardingPolicy): Forwarding => {
  const peer = plainAddress(request.socket.remoteAddress ?? "")
  const host = request.headers.host ?? ""
  if (!policy.trustedProxies.trusts(peer)) {
    return { headers: { "x-forwarded-for": peer, "x-forwarded-proto": policy.scheme, "x-forwarded-host": host }, keeps: untrusted }
  }
  const chain = joined(request.headers["x-forwarded-for"])
  const proto = joined(request.headers["x-forwarded-proto"])
  const forwardedHost = joined(request.headers["x-forwarded-host"])
  return {
    headers: {
      "x-forwarded-for": chain === "" ? peer : `${chain}, ${peer}`,
      "x-forwarded-proto": proto === "" ? policy.scheme : proto,
      "x-forwarded-host": forwardedHost === "" ? host : forwardedHost
    },
    keeps: trusted
  }
}

/** The request's end-to-end headers (Host kept) with the forwarded headers set. */
export const upstreamRequestHeaders = (request: IncomingMessage, policy: ForwardingPolicy): OutgoingHttpHeaders => {
  const dropped = connectionTokens(request.headers)
  const { headers: ours, keeps } = forwarding(request, policy)
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || hopByHop.has(name) || dropped.has(name) || !keeps(name)) continue
    headers[name] = value
  }
  return { ...headers, ...ours }
}

/** The upstream response's end-to-end headers; tagged with the deployment that answered when one is given (debug headers on). */
export const clientResponseHeaders = (response: IncomingMessage, deploymentId: string | undefined): OutgoingHttpHeaders => {
  const dropped = connectionTokens(response.headers)
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined || hopByHop.has(name) || dropped.has(name)) continue
    headers[name] = value
  }
  if (deploymentId !== undefined) headers["x-berth-deployment"] = deploymentId
  return headers
}

/**
 * The raw head of an upgrade request as the client sent it (Connection and Upgrade kept, header
 * spelling and order preserved) with the forwarded headers replaced by ours.
 */
export const rawUpgradeHead = (request: IncomingMessage, policy: ForwardingPolicy): string => {
  const { headers: ours, keeps } = forwarding(request, policy)
  const lines = [`${request.method ?? "GET"} ${request.url ?? "/"} HTTP/1.1`]
  const raw = request.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? ""
    if (keeps(name.toLowerCase())) lines.push(`${name}: ${raw[i + 1] ?? ""}`)
  }
  for (const [name, value] of Object.entries(ours)) lines.push(`${name}: ${value}`)
  return `${lines.join("\r\n")}\r\n\r\n`
}
