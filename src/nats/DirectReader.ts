/**
 * Direct gets (last message of a subject, or the next one from a sequence) on the connection's shared reply inbox (ReplyInbox), as
 * AckedPublisher does for publishes. `jsm.direct.getMessage` and `kv.get` make a client request each;
 * a cold load makes two gets, and that client overhead was about a round trip of its own (bench: rehydrate).
 */
import { Empty, type MsgHdrs } from "@nats-io/transport-node"
import type { ReplyInbox } from "./ReplyInbox.js"

export interface DirectMessage {
  readonly seq: number
  readonly data: Uint8Array
  readonly headers: MsgHdrs | undefined
}

export interface DirectReader {
  /** The last message on `subject` in `stream` (which must allow direct gets), or null when it has none. */
  readonly lastBySubject: (stream: string, subject: string) => Promise<DirectMessage | null>
  /** The first message on `subject` at or after sequence `seq`, or null when there is none. */
  readonly nextBySubject: (stream: string, subject: string, seq: number) => Promise<DirectMessage | null>
}

const encoder = new TextEncoder()

const directGet = (inbox: ReplyInbox, requestSubject: string, body: Uint8Array, subject: string) =>
  new Promise<DirectMessage | null>((resolve, reject) => {
    inbox.request(requestSubject, body, undefined, (outcome) => {
      if (outcome._tag === "NoReply") return reject(new Error(`direct get of ${subject}: ${outcome.reason}`))
      const message = outcome.message
      const code = message.headers?.code ?? 0
      if (code === 404) return resolve(null)
      if (code !== 0) {
        return reject(new Error(`direct get of ${subject} failed: ${code} ${message.headers?.description ?? ""}`.trim()))
      }
      const seq = Number(message.headers?.get("Nats-Sequence"))
      if (!Number.isFinite(seq)) return reject(new Error(`direct get of ${subject}: reply without a sequence`))
      resolve({ seq, data: message.data, headers: message.headers })
    })
  })

export const makeDirectReader = (inbox: ReplyInbox): DirectReader => ({
  lastBySubject: (stream, subject) => directGet(inbox, `$JS.API.DIRECT.GET.${stream}.${subject}`, Empty, subject),
  nextBySubject: (stream, subject, seq) =>
    directGet(inbox, `$JS.API.DIRECT.GET.${stream}`, encoder.encode(JSON.stringify({ seq, next_by_subj: subject })), subject)
})
