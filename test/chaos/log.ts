/**
 * The chaos harness's view of the truth: the whole BERTH_EVENTS log read back, and each project's
 * state as the domain folds it (src/domain/state.ts, from the initial state, nothing retired).
 */
import { type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream"
import { Schema } from "effect"
import { EventEnvelope } from "../../src/domain/events.js"
import { evolveEnvelopes, initialState, type ProjectState } from "../../src/domain/state.js"
import { projectIdOfSubject, streams, subjects } from "../../src/nats/subjects.js"

export interface LoggedEnvelope extends EventEnvelope {
  /** The envelope's stream sequence: the project version it made. */
  readonly seq: number
}

export interface Log {
  readonly lastSeq: number
  /** projectId -> its envelopes, in order. */
  readonly byProject: ReadonlyMap<string, ReadonlyArray<LoggedEnvelope>>
  /** Messages the harness could not decode as envelopes (an invariant of their own: there are none). */
  readonly undecodable: ReadonlyArray<{ readonly seq: number; readonly error: string }>
}

const decode = Schema.decodeUnknownEither(Schema.parseJson(EventEnvelope))

/** Every message of BERTH_EVENTS up to its last sequence now. */
export const readLog = async (js: JetStreamClient, jsm: JetStreamManager): Promise<Log> => {
  const info = await jsm.streams.info(streams.events)
  const lastSeq = info.state.last_seq
  const byProject = new Map<string, Array<LoggedEnvelope>>()
  const undecodable: Array<{ seq: number; error: string }> = []
  if (info.state.messages > 0) {
    const consumer = await js.consumers.get(streams.events, { filter_subjects: subjects.eventsAll, opt_start_seq: 1 })
    const messages = await consumer.consume()
    try {
      for await (const message of messages as AsyncIterable<JsMsg>) {
        const decoded = decode(message.string())
        if (decoded._tag === "Right") {
          const projectId = projectIdOfSubject(message.subject)
          const list = byProject.get(projectId) ?? []
          list.push({ ...decoded.right, seq: message.seq })
          byProject.set(projectId, list)
        } else {
          undecodable.push({ seq: message.seq, error: String(decoded.left).slice(0, 300) })
        }
        if (message.seq >= lastSeq) break
      }
    } finally {
      await messages.close()
    }
  }
  return { lastSeq, byProject, undecodable }
}

export const foldProject = (envelopes: ReadonlyArray<LoggedEnvelope>): ProjectState => evolveEnvelopes(initialState, envelopes)

export const foldAll = (log: Log): ReadonlyMap<string, ProjectState> =>
  new Map([...log.byProject].map(([projectId, envelopes]) => [projectId, foldProject(envelopes)]))
