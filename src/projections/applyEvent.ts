/**
 * The audit log side of applying envelopes (one set-based statement per batch) and the types shared
 * with the set-based fold of the read-model tables (fold.ts, applyBatch.ts).
 */
import type { EventEnvelope } from "../domain/events.js"
import { jsonValues, numbers, texts, times } from "./arrays.js"
import type { Statement } from "./Database.js"
import { displayPayload } from "../domain/secrets.js"

/** The bytes of an OpenAPI document by object name, or null when the object store has no such object. */
export type SpecContents = (objectName: string) => Uint8Array | null

export interface AppliedEnvelope {
  readonly streamSeq: number
  readonly envelope: EventEnvelope
}

/** The objects an envelope needs fetched from the OpenAPI bucket before it is applied. */
export const specObjectNames = (envelope: EventEnvelope): ReadonlyArray<string> =>
  envelope.events.flatMap((event) => (event.type === "OpenApiSpecCaptured" ? [event.objectName] : []))

export interface AuditRow {
  readonly streamSeq: number
  readonly idx: number
  readonly projectId: string
  readonly eventType: string
  readonly commandId: string | null
  /** Who sent the command (the envelope's actor), null when unknown. */
  readonly actor: string | null
  readonly at: Date
  readonly payload: unknown
}

/** The audit rows of one envelope: every event, at (stream sequence, index in the envelope). */
export const auditRows = ({ envelope, streamSeq }: AppliedEnvelope): ReadonlyArray<AuditRow> => {
  const at = new Date(envelope.at)
  return envelope.events.map((event, idx) => ({
    streamSeq,
    idx,
    projectId: envelope.projectId,
    eventType: event.type,
    commandId: envelope.commandId,
    actor: envelope.actor ?? null,
    at,
    // The read model keeps env keys and fingerprints only, never a sealed value (nor a cleartext one).
    payload: displayPayload(event)
  }))
}

/**
 * One statement appending many audit rows, its parameters built now. The log is append-only and written
 * in the transaction that moves the checkpoint past these rows, so none of them is there yet.
 */
export const auditStatement = (rows: ReadonlyArray<AuditRow>): Statement => {
  const [seqs, indexes, projectIds, types, commandIds, actors, at, payloads] = [
    numbers(rows, (r) => r.streamSeq), numbers(rows, (r) => r.idx), texts(rows, (r) => r.projectId), texts(rows, (r) => r.eventType),
    texts(rows, (r) => r.commandId), texts(rows, (r) => r.actor), times(rows, (r) => r.at), jsonValues(rows, (r) => r.payload)
  ]
  return (tx) => tx`insert into audit_events (stream_seq, idx, project_id, event_type, command_id, actor, at, payload)
    select s, i, p, t, c, w, to_timestamp(a / 1000), j
    from rows from (unnest(${seqs}::bigint[]), unnest(${indexes}::int[]), unnest(${projectIds}::text[]), unnest(${types}::text[]),
      unnest(${commandIds}::text[]), unnest(${actors}::text[]), unnest(${at}::float8[]),
      jsonb_array_elements(${payloads}::text::jsonb)) as u(s, i, p, t, c, w, a, j)`
}

/** A message that is not a valid envelope: kept in the audit log (type 'Undecodable'), otherwise ignored. */
export const undecodableAuditRow = (undecodable: {
  readonly streamSeq: number
  readonly projectId: string
  readonly at: Date
  readonly raw: string
  readonly error: string
}): AuditRow => ({
  streamSeq: undecodable.streamSeq,
  idx: 0,
  projectId: undecodable.projectId,
  eventType: "Undecodable",
  commandId: null,
  actor: null,
  at: undecodable.at,
  payload: { raw: undecodable.raw, error: undecodable.error }
})
