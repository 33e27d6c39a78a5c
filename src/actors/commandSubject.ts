/**
 * Which project a command subject names. A command subject is exactly `berth.cmd.<projectId>`: one
 * token after the prefix. `berth.cmd.a.b.proj_x` also matches the stream's `berth.cmd.>` filter, so
 * without this check a publisher could address proj_x through any subject ending in it (and a
 * permission on `berth.cmd.a.>` would not confine it). Pure: used by the intake's triage, so the rule
 * holds even against an external nats-server without Berth's permissions.
 */
import { Option } from "effect"
import { subjects } from "../nats/subjects.js"

const prefix = subjects.command("")

/** The project of `berth.cmd.<projectId>`; none for any other subject (extra or missing tokens). */
export const projectOfCommandSubject = (subject: string): Option.Option<string> => {
  if (!subject.startsWith(prefix)) return Option.none()
  const projectId = subject.slice(prefix.length)
  return projectId === "" || projectId.includes(".") ? Option.none() : Option.some(projectId)
}
