/**
 * What the proxy needs to know about upstream addresses and failures: parsing `host:port`, and
 * whether a failed attempt may be repeated on another instance without risking a second execution.
 */

export interface UpstreamAddress {
  readonly host: string
  readonly port: number
}

/** host:port (or [v6]:port) of an upstream, or null when it is not one. */
export const parseUpstream = (address: string): UpstreamAddress | null => {
  const match = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(address.trim())
  const host = match?.[1]
  const port = Number(match?.[2])
  return host === undefined || host === "" || !(port > 0 && port < 65536) ? null : { host, port }
}

export const errorCode = (error: unknown): string =>
  error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : error instanceof Error ? error.message : String(error)

const idempotent = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"])

export interface FailedAttempt {
  readonly method: string
  /** The TCP connection to the instance was established (or reused) during the attempt. */
  readonly connected: boolean
  /** The connection was a kept-alive one the instance may have closed just before we wrote. */
  readonly reusedSocket: boolean
  readonly code: string
}

/**
 * An attempt that failed before any response byte may go to another instance when the instance
 * cannot have acted on it: it never connected, or a kept-alive connection was found reset, or the
 * method is idempotent. (The caller also requires the request body to be replayable.)
 */
export const mayFailOver = (attempt: FailedAttempt): boolean =>
  !attempt.connected || (attempt.reusedSocket && attempt.code === "ECONNRESET") || idempotent.has(attempt.method)
