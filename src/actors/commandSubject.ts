/**
 * Which project a command subject names. A command subject is exactly `berth.cmd.<projectId>`: one
 * token after the prefix. `berth.cmd.a.b.proj_x` also matches the stream's `berth.cmd.>` filter, so
 * without this check a publisher could address proj_x through any subject ending in it (and a
 * permission on `berth.cmd.a.>` would not confine it). Pure: used by the intake's triage, so the rule
 * holds even against an external nats-server without Berth's permissions.
 *
 * A server with Berth's partition mapping (src/partitions/) stores `berth.cmd.<projectId>` as
 * `berth.pcmd.<partition>.<projectId>`: the same project, one partition token more.
 */
import { Option } from "effect"
import { subjects } from "../nats/subjects.js"
import { parsePartitionedSubject, partitionOf } from "../partitions/partitioning.js"

const prefix = subjects.command("")

/**
 * The project of `berth.cmd.<projectId>` or `berth.pcmd.<partition>.<projectId>`; none for any other
 * subject. nats-server checks publish permissions on the mapped subject, so publishers are allowed
 * `berth.pcmd.*.*` too and could name any partition: with `partitions`, one that is not the project's
 * own is refused here, so no command reaches an orchestrator that does not own its project.
 */
export const projectOfCommandSubject = (subject: string, partitions?: number): Option.Option<string> => {
  if (!subject.startsWith(prefix)) {
    return Option.flatMap(parsePartitionedSubject(subject), ({ partition, projectId }) =>
      partitions === undefined || partitionOf(projectId, partitions) === partition ? Option.some(projectId) : Option.none()
    )
  }
  const projectId = subject.slice(prefix.length)
  return projectId === "" || projectId.includes(".") ? Option.none() : Option.some(projectId)
}
