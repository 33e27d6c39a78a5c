/**
 * A command is addressed to a project only by `berth.cmd.<projectId>`. Subjects with extra tokens
 * (`berth.cmd.a.b.proj_x`) fall under the commands stream's `berth.cmd.>` filter too: the intake
 * dead-letters them (`subject-mismatch`) instead of handing them to proj_x's actor.
 */
import { Option } from "effect"
import { describe, expect, it } from "vitest"
import { triage } from "../../src/actors/CommandIntake.js"
import { projectOfCommandSubject } from "../../src/actors/commandSubject.js"

const createProject = (projectId: string) =>
  JSON.stringify({
    type: "CreateProject",
    commandId: "cmd_1",
    projectId,
    workspace: "acme",
    slug: "shop",
    apexDomain: "berth.test",
    environments: [{ id: "env_prod", slug: "production", kind: "production" }]
  })

/** What the intake does with the command, in one line. */
const outcome = (subject: string, data: string): string => {
  const verdict = triage(subject, data)
  return verdict._tag === "Valid" ? "accepted" : `${verdict._tag} (${verdict.reason}): ${verdict.message}`
}

describe("command subjects", () => {
  it.each([
    ["berth.cmd.proj_x", "proj_x"],
    ["berth.cmd.a.b.proj_x", undefined],
    ["berth.cmd.a.proj_x", undefined],
    ["berth.cmd.", undefined],
    ["berth.cmd", undefined],
    ["berth.evt.proj_x", undefined],
    ["xberth.cmd.proj_x", undefined]
  ])("%s names project %s", (subject, project) => {
    expect(Option.getOrUndefined(projectOfCommandSubject(subject))).toBe(project)
  })

  it("accepts a command on its own project's subject", () => {
    expect(outcome("berth.cmd.proj_x", createProject("proj_x"))).toBe("accepted")
  })

  it.each(["berth.cmd.a.b.proj_x", "berth.cmd.a.proj_x"])("dead-letters a command on %s (extra tokens)", (subject) => {
    expect(outcome(subject, createProject("proj_x"))).toBe(
      `DeadLetter (subject-mismatch): subject ${subject} is not berth.cmd.<projectId> (one token after berth.cmd.)`
    )
  })

  it("dead-letters a command whose projectId is not its subject's", () => {
    expect(outcome("berth.cmd.proj_y", createProject("proj_x"))).toBe(
      "DeadLetter (subject-mismatch): projectId proj_x does not match subject berth.cmd.proj_y"
    )
  })
})
