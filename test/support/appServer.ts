/**
 * A tiny HTTP server standing in for a deployment's instance: serves an OpenAPI document (or 404),
 * optionally slowly, so the scrape step has something real to fetch.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"

export interface AppServer {
  readonly address: string
  readonly requests: () => number
  setSpec: (spec: string | null) => void
  setDelayMs: (ms: number) => void
  readonly close: () => Promise<void>
}

export const startAppServer = async (path = "/openapi.yaml"): Promise<AppServer> => {
  let spec: string | null = "openapi: 3.0.0\ninfo:\n  title: shop\n  version: 1.0.0\npaths: {}\n"
  let delayMs = 0
  let count = 0
  const server: Server = createServer((request, response) => {
    count++
    setTimeout(() => {
      if (request.url === path && spec !== null) {
        response.writeHead(200, { "content-type": "application/yaml" }).end(spec)
      } else {
        response.writeHead(404).end("not found")
      }
    }, delayMs)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    requests: () => count,
    setSpec: (next) => (spec = next),
    setDelayMs: (ms) => (delayMs = ms),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
