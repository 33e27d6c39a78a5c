/**
 * Which direct peers may speak for the original client: the gateway believes the X-Forwarded-For,
 * -Proto, -Host, Forwarded and X-Real-IP a request carries only when it comes from one of these
 * addresses or networks (BERTH_GATEWAY_TRUSTED_PROXIES). Pure parsing; matching goes through
 * node:net's BlockList, which handles IPv4 and IPv6 prefixes.
 */
import { BlockList, isIP } from "node:net"
import { Either } from "effect"

export interface TrustedProxies {
  /** The entries as configured (normalised), for logs. */
  readonly entries: ReadonlyArray<string>
  /** True when a peer address (IPv4, IPv6 or IPv4-mapped IPv6) is one of the entries. */
  readonly trusts: (address: string) => boolean
}

/** The peer address without the IPv4-mapped IPv6 prefix (`::ffff:10.0.0.1` is 10.0.0.1). */
export const plainAddress = (address: string): string =>
  address.toLowerCase().startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address

export const trustNobody: TrustedProxies = { entries: [], trusts: () => false }

const familyOf = (version: number): "ipv4" | "ipv6" => (version === 4 ? "ipv4" : "ipv6")

/**
 * Parses a comma-separated list of IP addresses and CIDR networks (`10.0.0.0/8, ::1, 192.0.2.7`).
 * Empty entries are ignored; the first entry that is neither is the Left.
 */
export const parseTrustedProxies = (text: string): Either.Either<TrustedProxies, string> => {
  const list = new BlockList()
  const entries: Array<string> = []
  for (const raw of text.split(",")) {
    const entry = raw.trim()
    if (entry === "") continue
    const slash = entry.indexOf("/")
    const address = plainAddress(slash === -1 ? entry : entry.slice(0, slash))
    const version = isIP(address)
    if (version === 0) return Either.left(`"${entry}" is not an IP address or CIDR network`)
    if (slash === -1) {
      list.addAddress(address, familyOf(version))
      entries.push(address)
      continue
    }
    const prefixText = entry.slice(slash + 1)
    const prefix = Number(prefixText)
    const maxPrefix = version === 4 ? 32 : 128
    if (!/^\d{1,3}$/.test(prefixText) || prefix > maxPrefix) {
      return Either.left(`"${entry}" has no valid prefix length (0 to ${maxPrefix})`)
    }
    list.addSubnet(address, prefix, familyOf(version))
    entries.push(`${address}/${prefix}`)
  }
  if (entries.length === 0) return Either.right(trustNobody)
  return Either.right({
    entries,
    trusts: (peer) => {
      const address = plainAddress(peer)
      const version = isIP(address)
      return version !== 0 && list.check(address, familyOf(version))
    }
  })
}
