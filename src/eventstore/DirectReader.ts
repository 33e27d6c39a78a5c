/**
 * Direct gets (last message of a subject) on the connection's fast path, as AckedPublisher does for
 * publishes: a core publish whose reply subject is one of our own inbox's, and one subscription that
 * settles every waiting get by its reply token. `jsm.direct.getMessage` and `kv.get` make a request
 * each (a timer, a promise and a RequestError built on every completion); a cold load makes two gets,
 * and that client overhead was about a round trip of its own (bench: rehydrate).
 */
import { createInbox, Empty, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node"

export interface DirectMessage {
  readonly seq: number
  readonly data: Uint8Array
  readonly headers: MsgHdrs | undefined
}

export interface DirectReader {
  /** The last message on `subject` in `stream` (which must allow direct gets), or null when it has none. */
  readonly lastBySubject: (stream: string, subject: string) => Promise<DirectMessage | null>
  /** Stops the reply subscription; waiting gets fail. */
  readonly close: () => void
}

interface Waiting {
  readonly subject: string
  readonly sentAt: number
  readonly resolve: (message: DirectMessage | null) => void
  readonly reject: (error: Error) => void
}

export const makeDirectReader = (nc: NatsConnection, options: { readonly timeoutMs: number }): DirectReader => {
  const prefix = createInbox()
  const waiting = new Map<number, Waiting>()
  let nextToken = 0

  const settle = (message: Msg) => {
    const token = Number(message.subject.slice(prefix.length + 1))
    const entry = waiting.get(token)
    if (entry === undefined) return // timed out already
    waiting.delete(token)
    const code = message.headers?.code ?? 0
    if (code === 404) return entry.resolve(null)
    if (code !== 0) {
      return entry.reject(new Error(`direct get of ${entry.subject} failed: ${code} ${message.headers?.description ?? ""}`.trim()))
    }
    const seq = Number(message.headers?.get("Nats-Sequence"))
    if (!Number.isFinite(seq)) return entry.reject(new Error(`direct get of ${entry.subject}: reply without a sequence`))
    entry.resolve({ seq, data: message.data, headers: message.headers })
  }

  const subscription = nc.subscribe(`${prefix}.*`, {
    callback: (error, message) => {
      if (error === null) settle(message)
    }
  })

  const failAll = (reason: string, olderThan: number) => {
    for (const [token, entry] of waiting) {
      if (entry.sentAt > olderThan) continue
      waiting.delete(token)
      entry.reject(new Error(`direct get of ${entry.subject}: ${reason}`))
    }
  }

  // One sweep for every waiting get instead of a timer each.
  const sweeper = setInterval(
    () => failAll(`timed out after ${options.timeoutMs} ms`, Date.now() - options.timeoutMs),
    Math.max(50, Math.floor(options.timeoutMs / 4))
  )
  sweeper.unref()

  return {
    lastBySubject: (stream, subject) =>
      new Promise((resolve, reject) => {
        const token = ++nextToken
        waiting.set(token, { subject, sentAt: Date.now(), resolve, reject })
        try {
          nc.publish(`$JS.API.DIRECT.GET.${stream}.${subject}`, Empty, { reply: `${prefix}.${token}` })
        } catch (error) {
          waiting.delete(token)
          reject(error instanceof Error ? error : new Error(String(error)))
        }
      }),
    close: () => {
      clearInterval(sweeper)
      subscription.unsubscribe()
      failAll("connection closing", Number.POSITIVE_INFINITY)
    }
  }
}
