/**
 * NATS_URL names one server or several of one cluster, comma-separated
 * (`nats://a:4222,nats://b:4222,nats://c:4222`): the client connects to one of them and, when it goes
 * away, to another (it also learns the cluster's other servers from the one it reached). nats.js takes
 * a list, not a comma-separated string, so every connection Berth opens goes through `natsServers`.
 * Pure: no I/O.
 */

export const natsUrlSchemes = ["nats://", "tls://", "ws://", "wss://"] as const

/** The servers of a NATS_URL, in the order given. */
export const natsServers = (url: string): Array<string> =>
  url
    .split(",")
    .map((server) => server.trim())
    .filter((server) => server !== "")

/** True when every server of the list starts with a NATS scheme (and there is at least one). */
export const isNatsUrlList = (url: string): boolean => {
  const servers = natsServers(url)
  return servers.length > 0 && servers.every((server) => natsUrlSchemes.some((scheme) => server.startsWith(scheme)))
}
