/**
 * Requests on the connection's fast path: a core publish whose reply subject is one of our own
 * inbox's, and one subscription that settles every waiting request by its reply token, with one
 * timeout sweep for all of them. The client's own requests (`js.publish`, `jsm.direct.getMessage`,
 * `kv.get`) build a timer, a promise and a RequestError per message; in a deploy storm and a cold load
 * that overhead cost as much as the server round trip. AckedPublisher and the direct reader share it.
 */
import { createInbox, type MsgHdrs, type Msg, type NatsConnection } from "@nats-io/transport-node"

/** The reply, or why none will come (timed out, connection closing, publish refused by the client). */
export type ReplyOutcome = { readonly _tag: "Reply"; readonly message: Msg } | { readonly _tag: "NoReply"; readonly reason: string }

export interface ReplyInbox {
  /** Publishes `data` to `subject` and calls `settle` once; the returned function forgets the request. */
  readonly request: (
    subject: string,
    data: Uint8Array,
    headers: MsgHdrs | undefined,
    settle: (outcome: ReplyOutcome) => void
  ) => () => void
  /** Stops the reply subscription; waiting requests settle as NoReply. */
  readonly close: () => void
}

interface Waiting {
  readonly sentAt: number
  readonly settle: (outcome: ReplyOutcome) => void
}

export const makeReplyInbox = (nc: NatsConnection, options: { readonly timeoutMs: number; readonly inboxPrefix?: string | undefined }): ReplyInbox => {
  const prefix = createInbox(options.inboxPrefix)
  const waiting = new Map<number, Waiting>()
  let nextToken = 0

  const subscription = nc.subscribe(`${prefix}.*`, {
    callback: (error, message) => {
      if (error !== null) return
      const token = Number(message.subject.slice(prefix.length + 1))
      const entry = waiting.get(token)
      if (entry === undefined) return // timed out or forgotten already
      waiting.delete(token)
      entry.settle({ _tag: "Reply", message })
    }
  })

  const failAll = (reason: string, olderThan: number) => {
    for (const [token, entry] of waiting) {
      if (entry.sentAt > olderThan) continue
      waiting.delete(token)
      entry.settle({ _tag: "NoReply", reason })
    }
  }

  const sweeper = setInterval(
    () => failAll(`timed out after ${options.timeoutMs} ms`, Date.now() - options.timeoutMs),
    Math.max(50, Math.floor(options.timeoutMs / 4))
  )
  sweeper.unref()

  /**
   * Requests made since the last flush, published together at the end of this turn of the event loop.
   * The client writes its outbound buffer to the socket at the next microtask checkpoint after a
   * publish, which in a deploy storm meant about one socket write per publish (~6% of the
   * orchestrator's CPU); published together, the requests of every fiber that ran in this turn leave
   * in one write. Order is kept.
   */
  let queued: Array<{ readonly token: number; readonly subject: string; readonly data: Uint8Array; readonly headers: MsgHdrs | undefined }> = []
  let closed = false
  const flush = () => {
    const batch = queued
    queued = []
    for (const { token, subject, data, headers } of batch) {
      try {
        if (closed) throw new Error("connection closing")
        nc.publish(subject, data, headers === undefined ? { reply: `${prefix}.${token}` } : { reply: `${prefix}.${token}`, headers })
      } catch (error) {
        const entry = waiting.get(token)
        if (entry === undefined) continue
        waiting.delete(token)
        entry.settle({ _tag: "NoReply", reason: error instanceof Error ? error.message : String(error) })
      }
    }
  }

  return {
    request: (subject, data, headers, settle) => {
      const token = ++nextToken
      waiting.set(token, { sentAt: Date.now(), settle })
      if (queued.length === 0) setImmediate(flush)
      queued.push({ token, subject, data, headers })
      return () => void waiting.delete(token)
    },
    close: () => {
      closed = true
      clearInterval(sweeper)
      subscription.unsubscribe()
      failAll("connection closing", Number.POSITIVE_INFINITY)
    }
  }
}
