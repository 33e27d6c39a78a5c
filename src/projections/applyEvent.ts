/**
 * The audit log side of applying envelopes (one set-based statement per batch) and the types shared
 * with the set-based fold of the read-model tables (applyBatch.ts).
 */
import type { EventEnvelope } from "../domain/events.js"
import type { TxSql } from "./Database.js"

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
  readonly at: Date
  readonly payload: unknown
}

/** The audit rows of one envelope: every event, at (stream sequence, index in the envelope). */
export const auditRows = ({ envelope, streamSeq }: AppliedEnvelope): ReadonlyArray<AuditRow> =>
  envelope.events.map((event, idx) => ({
    streamSeq,
    idx,
    projectId: envelope.projectId,
    eventType: event.type,
    commandId: envelope.commandId,
    at: new Date(envelope.at),
    payload: event
  }))

/** One statement appending many audit rows (the log is append-only: a row already there is kept). */
export const auditStatement = (tx: TxSql, rows: ReadonlyArray<AuditRow>) =>
  tx`insert into audit_events (stream_seq, idx, project_id, event_type, command_id, at, payload)
    select s, i, p, t, c, to_timestamp(a / 1000.0), j::jsonb
      from unnest(${rows.map((r) => r.streamSeq)}::bigint[], ${rows.map((r) => r.idx)}::int[], ${rows.map((r) => r.projectId)}::text[],
        ${rows.map((r) => r.eventType)}::text[], ${rows.map((r) => r.commandId)}::text[], ${rows.map((r) => r.at.getTime())}::float8[],
        ${rows.map((r) => JSON.stringify(r.payload))}::text[]) as u(s, i, p, t, c, a, j)
    on conflict (stream_seq, idx) do nothing`

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
  at: undecodable.at,
  payload: { raw: undecodable.raw, error: undecodable.error }
})
