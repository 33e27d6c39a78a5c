/**
 * Header rewriting between client and upstream: drops hop-by-hop headers, adds X-Forwarded-For
 * (appended), -Proto and -Host on the way in and X-Berth-Deployment on the way out, and renders the
 * raw request head a WebSocket upgrade sends down its tunnel.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http"

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
const forwardedNames = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"])

const connectionTokens = (headers: IncomingHttpHeaders): ReadonlySet<string> =>
  new Set((headers.connection ?? "").split(",").map((token) => token.trim().toLowerCase()).filter((token) => token !== ""))

/** The client's address, without the IPv4-mapped IPv6 prefix. */
const clientAddress = (request: IncomingMessage): string => {
  const address = request.socket.remoteAddress ?? ""
  return address.startsWith("::ffff:") ? address.slice(7) : address
}

/** The three forwarded headers for a request: the chain so far plus this client, our scheme, the Host asked for. */
export const forwardedHeaders = (request: IncomingMessage): Readonly<Record<string, string>> => {
  const prior = request.headers["x-forwarded-for"]
  const chain = Array.isArray(prior) ? prior.join(", ") : prior
  const client = clientAddress(request)
  return {
    "x-forwarded-for": chain === undefined || chain.trim() === "" ? client : `${chain}, ${client}`,
    "x-forwarded-proto": "http",
    "x-forwarded-host": request.headers.host ?? ""
  }
}

/** The request's end-to-end headers (Host kept) with the forwarded headers set. */
export const upstreamRequestHeaders = (request: IncomingMessage): OutgoingHttpHeaders => {
  const dropped = connectionTokens(request.headers)
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || hopByHop.has(name) || dropped.has(name) || forwardedNames.has(name)) continue
    headers[name] = value
  }
  return { ...headers, ...forwardedHeaders(request) }
}

/** The upstream response's end-to-end headers, tagged with the deployment that answered. */
export const clientResponseHeaders = (response: IncomingMessage, deploymentId: string): OutgoingHttpHeaders => {
  const dropped = connectionTokens(response.headers)
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined || hopByHop.has(name) || dropped.has(name)) continue
    headers[name] = value
  }
  headers["x-berth-deployment"] = deploymentId
  return headers
}

/**
 * The raw head of an upgrade request as the client sent it (Connection and Upgrade kept, header
 * spelling and order preserved) with the forwarded headers replaced by ours.
 */
export const rawUpgradeHead = (request: IncomingMessage): string => {
  const lines = [`${request.method ?? "GET"} ${request.url ?? "/"} HTTP/1.1`]
  const raw = request.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? ""
    if (!forwardedNames.has(name.toLowerCase())) lines.push(`${name}: ${raw[i + 1] ?? ""}`)
  }
  for (const [name, value] of Object.entries(forwardedHeaders(request))) lines.push(`${name}: ${value}`)
  return `${lines.join("\r\n")}\r\n\r\n`
}
