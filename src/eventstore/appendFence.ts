/**
 * Why an append to a clustered stream also carries a Nats-Msg-Id.
 *
 * On a replicated (R3) stream, nats-server before 2.9.21 checks `Nats-Expected-Last-Subject-Sequence`
 * (when not 0) only on the stream leader, before it proposes the message, not as the replicas store
 * it (nats-io/nats-server#4320): two appends expecting the same project version that reach the leader
 * together can both be stored, two decisions taken on one state. Its `Nats-Msg-Id` duplicate check,
 * by contrast, runs as each replica applies the stream's log, in order. So on a cluster every append
 * also carries the id `<projectId>:<expectedVersion>`: of two appends after the same version, the
 * later one is a duplicate of the earlier whatever their timing, is not stored, and its writer reads
 * `duplicate` in the acknowledgement: a version conflict, as a single server reports it. The stream's
 * duplicate window (2 minutes) outlasts by far the moment two racing appends are apart; an append after
 * a version that already has a successor still fails the expected-sequence check itself.
 *
 * A single server checks the expected sequence in order: no id is added there, so its behaviour and
 * its cost stay as they were. Pure: no I/O.
 */

/** The id of the append that follows `expectedVersion` of `projectId`'s log. */
export const appendFenceId = (projectId: string, expectedVersion: number): string => `${projectId}:${expectedVersion}`

/** The headers an append gets: the fence on a clustered server, none on a single one. */
export const appendFenceHeaders = (
  clustered: boolean,
  projectId: string,
  expectedVersion: number
): Readonly<Record<string, string>> | undefined => (clustered ? { "Nats-Msg-Id": appendFenceId(projectId, expectedVersion) } : undefined)
