/**
 * The gateway's own answers, as RFC 9457 problem documents (`application/problem+json`): on an HTTP
 * response, or written raw on the socket of an upgrade request that could not be tunnelled.
 */
import type { ServerResponse } from "node:http"
import { STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import { problemBody, problemContentType } from "../../../api/problems.js"

const titleOf = (status: number): string => STATUS_CODES[status] ?? "Error"

export const sendProblem = (response: ServerResponse, status: number, detail: string): void => {
  const body = JSON.stringify(problemBody(status, titleOf(status), detail))
  if (response.headersSent) {
    response.destroy()
    return
  }
  response
    .writeHead(status, { "content-type": problemContentType, "content-length": Buffer.byteLength(body) })
    .end(body)
}

/** Answers an upgrade request on its raw socket and closes it. */
export const rejectUpgrade = (socket: Duplex, status: number, detail: string): void => {
  const body = JSON.stringify(problemBody(status, titleOf(status), detail))
  const head = [
    `HTTP/1.1 ${status} ${titleOf(status)}`,
    `content-type: ${problemContentType}`,
    `content-length: ${Buffer.byteLength(body)}`,
    "connection: close"
  ].join("\r\n")
  if (socket.writable) socket.end(`${head}\r\n\r\n${body}`)
  else socket.destroy()
}
