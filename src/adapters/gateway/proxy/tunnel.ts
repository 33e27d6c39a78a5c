/**
 * Passes an HTTP upgrade (WebSocket) through: connects to the deployment's instances in the given
 * order until one accepts the TCP connection, replays the upgrade request head with forwarded
 * headers, then splices the two sockets. The instance's own 101 (or refusal) reaches the client as is.
 * A tunnel with no traffic in either direction for the idle timeout is closed (the upstream socket
 * sees every byte both ways, so its timer is the tunnel's).
 */
import type { IncomingMessage } from "node:http"
import { connect, type Socket } from "node:net"
import type { Duplex } from "node:stream"
import type { RouteTarget } from "../RouteIndex.js"
import { rawUpgradeHead } from "./headers.js"
import type { ProxyContext } from "./forward.js"
import { sendRawProblem } from "./problems.js"
import { errorCode, parseUpstream } from "./upstreams.js"

export const tunnelUpgrade = (
  context: ProxyContext,
  request: IncomingMessage,
  client: Duplex,
  head: Buffer,
  target: RouteTarget,
  order: ReadonlyArray<string>,
  track: (socket: Socket) => void
): void => {
  const failures: Array<string> = []
  let clientGone = false
  client.on("error", () => client.destroy())
  client.once("close", () => (clientGone = true))

  const tryAt = (index: number): void => {
    if (clientGone) return
    const address = order[index]
    if (address === undefined) {
      return sendRawProblem(client, 502, `no instance of deployment ${target.deploymentId} answered (${failures.join("; ")})`)
    }
    const upstream = parseUpstream(address)
    if (upstream === null) {
      failures.push(`${address}: not host:port`)
      return tryAt(index + 1)
    }
    const socket = connect({ host: upstream.host, port: upstream.port })
    track(socket)
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" })), context.connectTimeoutMs)
    let connected = false
    socket.once("connect", () => {
      connected = true
      clearTimeout(timer)
      context.markUp(address)
      if (clientGone) return void socket.destroy()
      socket.setNoDelay(true)
      socket.setTimeout(context.idleTimeoutMs, () => socket.destroy())
      socket.write(rawUpgradeHead(request, context.forwarding))
      if (head.length > 0) socket.write(head)
      socket.pipe(client)
      client.pipe(socket)
      client.once("close", () => socket.destroy())
      socket.once("close", () => client.destroy())
    })
    socket.on("error", (error) => {
      clearTimeout(timer)
      if (connected) return void client.destroy()
      const code = errorCode(error)
      failures.push(`${address}: ${code}`)
      if (context.markDown(address)) {
        context.warn("gateway: instance refused an upgrade; trying the next", {
          host: target.hostname,
          deploymentId: target.deploymentId,
          upstream: address,
          code
        })
      }
      tryAt(index + 1)
    })
  }

  tryAt(0)
}
