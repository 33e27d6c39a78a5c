/**
 * The gateway's own answers, as RFC 9457 problem documents (`application/problem+json`): on an HTTP
 * response, or written raw on the socket of a request Node's HTTP server could not hand over (an
 * upgrade that could not be tunnelled, a head too large or too slow).
 */
import type { ServerResponse } from "node:http"
import { STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import { problemBody, problemContentType } from "../../../api/problems.js"

const titleOf = (status: number): string => STATUS_CODES[status] ?? "Error"

/**
 * Answers with a problem, or cuts the response when its headers are already out. `close` ends the
 * connection after the answer (the client's request body was not read).
 */
export const sendProblem = (response: ServerResponse, status: number, detail: string, options: { readonly close?: boolean } = {}): void => {
  const body = JSON.stringify(problemBody(status, titleOf(status), detail))
  if (response.headersSent) {
    response.destroy()
    return
  }
  response
    .writeHead(status, {
      "content-type": problemContentType,
      "content-length": Buffer.byteLength(body),
      ...(options.close === true ? { connection: "close" } : {})
    })
    .end(body)
}

/** Answers a request on its raw socket and closes it once the answer is flushed. */
export const sendRawProblem = (socket: Duplex, status: number, detail: string): void => {
  const body = JSON.stringify(problemBody(status, titleOf(status), detail))
  const head = [
    `HTTP/1.1 ${status} ${titleOf(status)}`,
    `content-type: ${problemContentType}`,
    `content-length: ${Buffer.byteLength(body)}`,
    "connection: close"
  ].join("\r\n")
  if (!socket.writable) return void socket.destroy()
  socket.on("error", () => socket.destroy())
  socket.end(`${head}\r\n\r\n${body}`, () => socket.destroy())
}
