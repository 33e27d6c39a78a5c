/**
 * Deploy: validations in Unkey's order and wording (spec 3.1), defaults, git info, idempotency.
 */
import { describe, it } from "vitest"
import type { Deploy } from "../../src/domain/commands.js"
import {
  accepted,
  building,
  deploy,
  deploymentAt,
  deployWithoutSource,
  given,
  handled,
  preview,
  projectCreated,
  rejected,
  requested,
  type History,
  type Outcome
} from "./decider.js"

interface Case {
  readonly name: string
  readonly given: History
  readonly when: Deploy
  readonly then: Outcome
}

const message10240 = "m".repeat(10_240)

const validation: ReadonlyArray<Case> = [
  {
    name: "project not found",
    given: [],
    when: deploy(),
    then: rejected("project_not_found", "project not found: proj_1")
  },
  {
    name: "project not found comes first (even without a source)",
    given: [],
    when: deployWithoutSource(),
    then: rejected("project_not_found", "project not found: proj_1")
  },
  {
    name: "deployment already exists",
    given: [projectCreated, ...deploymentAt("dep_1", "building")],
    when: deploy({ commandId: "cmd_other" }),
    then: rejected("deployment_exists", "deployment already exists: dep_1")
  },
  {
    name: "deployment already exists, even when it failed",
    given: [projectCreated, ...deploymentAt("dep_1", "failed")],
    when: deploy({ commandId: "cmd_retry" }),
    then: rejected("deployment_exists", "deployment already exists: dep_1")
  },
  {
    name: "deployment exists is checked before the environment",
    given: [projectCreated, ...deploymentAt("dep_1", "ready")],
    when: deploy({ commandId: "cmd_other", environmentId: "env_nope" }),
    then: rejected("deployment_exists", "deployment already exists: dep_1")
  },
  {
    name: "environment not found, in Unkey's format",
    given: [projectCreated],
    when: deploy({ environmentId: "env_nope" }),
    then: rejected("environment_not_found", "environment 'env_nope' not found in workspace 'acme'")
  },
  {
    name: "environment is looked up by id, not slug",
    given: [projectCreated],
    when: deploy({ environmentId: "production" }),
    then: rejected("environment_not_found", "environment 'production' not found in workspace 'acme'")
  },
  {
    name: "environment is checked before the source",
    given: [projectCreated],
    when: { ...deployWithoutSource(), environmentId: "env_nope" },
    then: rejected("environment_not_found", "environment 'env_nope' not found in workspace 'acme'")
  },
  {
    name: "source missing",
    given: [projectCreated],
    when: deployWithoutSource(),
    then: rejected("invalid_input", "source must be specified (either image or command)")
  }
]

const acceptedCases: ReadonlyArray<Case> = [
  {
    name: "defaults: 1 replica, port 8080, 512 millicores, 512 MiB, no env, no git",
    given: [projectCreated],
    when: deploy(),
    then: accepted(requested("dep_1"), building("dep_1"))
  },
  {
    name: "to the preview environment",
    given: [projectCreated],
    when: deploy({ environmentId: preview.id }),
    then: accepted(requested("dep_1", { environmentId: preview.id }), building("dep_1"))
  },
  {
    name: "explicit replicas, port and env are kept",
    given: [projectCreated],
    when: deploy({ replicas: 3, port: 3000, env: { LOG_LEVEL: "debug" } }),
    then: accepted(
      { ...requested("dep_1"), replicas: 3, port: 3000, env: { LOG_LEVEL: "debug" } },
      building("dep_1")
    )
  },
  {
    name: "a command source",
    given: [projectCreated],
    when: deploy({ source: { command: ["node", "server.js"] } }),
    then: accepted({ ...requested("dep_1"), source: { command: ["node", "server.js"] } }, building("dep_1"))
  },
  {
    name: "git without a branch gets the project's default branch",
    given: [projectCreated],
    when: deploy({ git: { sha: "abcdef0" } }),
    then: accepted(requested("dep_1", { git: { sha: "abcdef0", branch: "main" } }), building("dep_1"))
  },
  {
    name: "git without a branch, project default branch trunk",
    given: [{ ...projectCreated, defaultBranch: "trunk" }],
    when: deploy({ git: { sha: "abcdef0" } }),
    then: accepted(requested("dep_1", { git: { sha: "abcdef0", branch: "trunk" } }), building("dep_1"))
  },
  {
    name: "git branch and message kept",
    given: [projectCreated],
    when: deploy({ git: { sha: "ABCDEF0123", branch: "feature/x", message: "Fix login" } }),
    then: accepted(
      requested("dep_1", { git: { sha: "ABCDEF0123", branch: "feature/x", message: "Fix login" } }),
      building("dep_1")
    )
  },
  {
    name: "commit message of 10240 characters kept whole",
    given: [projectCreated],
    when: deploy({ git: { sha: "abcdef0", message: message10240 } }),
    then: accepted(
      requested("dep_1", { git: { sha: "abcdef0", branch: "main", message: message10240 } }),
      building("dep_1")
    )
  },
  {
    name: "commit message trimmed at 10240 characters",
    given: [projectCreated],
    when: deploy({ git: { sha: "abcdef0", message: `${message10240}overflow` } }),
    then: accepted(
      requested("dep_1", { git: { sha: "abcdef0", branch: "main", message: message10240 } }),
      building("dep_1")
    )
  },
  {
    name: "empty commit message kept",
    given: [projectCreated],
    when: deploy({ git: { sha: "abcdef0", message: "" } }),
    then: accepted(requested("dep_1", { git: { sha: "abcdef0", branch: "main", message: "" } }), building("dep_1"))
  },
  {
    name: "a second deployment while the first is in flight",
    given: [projectCreated, ...deploymentAt("dep_1", "deploying")],
    when: deploy({ deploymentId: "dep_2" }),
    then: accepted(requested("dep_2"), building("dep_2"))
  }
]

describe("Deploy validation", () => {
  it.each(validation)("$name", (c) => {
    given(c.given).when(c.when).thenOutcome(c.then)
  })
})

describe("Deploy accepted", () => {
  it.each(acceptedCases)("$name", (c) => {
    given(c.given).when(c.when).thenOutcome(c.then)
  })
})

describe("Deploy idempotency", () => {
  it("the same command decided twice yields no events the second time", () => {
    const command = deploy()
    given([projectCreated]).when(command).then([requested("dep_1"), building("dep_1")])
    given([projectCreated, handled(command.commandId, requested("dep_1"), building("dep_1"))])
      .when(command)
      .thenNothing()
  })

  it("a redelivered command is recognised by commandId even after the deployment moved on", () => {
    const command = deploy()
    given([projectCreated, handled(command.commandId, ...deploymentAt("dep_1", "ready"))])
      .when(command)
      .thenNothing()
  })

  it("the same deploymentId under a new commandId is rejected", () => {
    given([projectCreated, handled("cmd_dep_1", requested("dep_1"), building("dep_1"))])
      .when(deploy({ commandId: "cmd_new" }))
      .thenRejected("deployment_exists", "deployment already exists: dep_1")
  })

  it("a rejected command redelivered is not decided again", () => {
    const command = deploy({ environmentId: "env_nope" })
    given([projectCreated]).when(command).thenRejected(
      "environment_not_found",
      "environment 'env_nope' not found in workspace 'acme'"
    )
    const rejection = {
      type: "CommandRejected",
      commandId: command.commandId,
      commandType: "Deploy",
      code: "environment_not_found",
      message: "environment 'env_nope' not found in workspace 'acme'"
    } as const
    given([projectCreated, handled(command.commandId, rejection)]).when(command).thenNothing()
  })

  it("events folded without their commandId do not count as handled", () => {
    given([projectCreated, requested("dep_1"), building("dep_1")])
      .when(deploy())
      .thenRejected("deployment_exists", "deployment already exists: dep_1")
  })
})
