/**
 * CreateProject: validations in order, defaults, and idempotency by commandId.
 */
import { describe, it } from "vitest"
import type { CreateProject } from "../../src/domain/commands.js"
import {
  accepted,
  createProject,
  given,
  handled,
  preview,
  production,
  projectCreated,
  rejected,
  type History,
  type Outcome
} from "./decider.js"

interface Case {
  readonly name: string
  readonly given: History
  readonly when: CreateProject
  readonly then: Outcome
}

const cases: ReadonlyArray<Case> = [
  {
    name: "a new project, default branch main, no OpenAPI path",
    given: [],
    when: createProject(),
    then: accepted(projectCreated)
  },
  {
    name: "a new project with its own default branch and OpenAPI path",
    given: [],
    when: createProject({ defaultBranch: "trunk", openApiPath: "/docs/openapi.yaml" }),
    then: accepted({ ...projectCreated, defaultBranch: "trunk", openApiPath: "/docs/openapi.yaml" })
  },
  {
    name: "a single environment",
    given: [],
    when: createProject({ environments: [preview] }),
    then: accepted({ ...projectCreated, environments: [preview] })
  },
  {
    name: "the project already exists",
    given: [projectCreated],
    when: createProject({ commandId: "cmd_again" }),
    then: rejected("project_exists", "project already exists: proj_1")
  },
  {
    name: "project exists is checked before the environments",
    given: [projectCreated],
    when: createProject({ commandId: "cmd_again", environments: [production, production] }),
    then: rejected("project_exists", "project already exists: proj_1")
  },
  {
    name: "duplicate environment id",
    given: [],
    when: createProject({ environments: [production, { id: production.id, slug: "staging", kind: "preview" }] }),
    then: rejected("invalid_input", "duplicate environment id: env_prod")
  },
  {
    name: "two duplicate environment ids, in order",
    given: [],
    when: createProject({
      environments: [
        { id: "env_b", slug: "b1", kind: "preview" },
        { id: "env_a", slug: "a1", kind: "preview" },
        { id: "env_b", slug: "b2", kind: "preview" },
        { id: "env_a", slug: "a2", kind: "preview" }
      ]
    }),
    then: rejected("invalid_input", "duplicate environment id: env_b, env_a")
  },
  {
    name: "an environment id three times is named once",
    given: [],
    when: createProject({
      environments: [
        { id: "env_a", slug: "a1", kind: "preview" },
        { id: "env_a", slug: "a2", kind: "preview" },
        { id: "env_a", slug: "a3", kind: "preview" }
      ]
    }),
    then: rejected("invalid_input", "duplicate environment id: env_a")
  },
  {
    name: "duplicate environment slug",
    given: [],
    when: createProject({ environments: [production, { id: "env_other", slug: "production", kind: "preview" }] }),
    then: rejected("invalid_input", "duplicate environment slug: production")
  },
  {
    name: "two duplicated slugs are both named",
    given: [],
    when: createProject({
      environments: [
        production,
        preview,
        { id: "env_p2", slug: "production", kind: "preview" },
        { id: "env_v2", slug: "preview", kind: "preview" }
      ]
    }),
    then: rejected("invalid_input", "duplicate environment slug: production, preview")
  },
  {
    name: "duplicate ids are reported before duplicate slugs",
    given: [],
    when: createProject({ environments: [production, production] }),
    then: rejected("invalid_input", "duplicate environment id: env_prod")
  },
  {
    name: "two production environments would fight over the live hostname and pointer",
    given: [],
    when: createProject({ environments: [production, { id: "env_prod_2", slug: "prod-two", kind: "production" }] }),
    then: rejected("invalid_input", "a project has at most one production environment")
  }
]

describe("CreateProject", () => {
  it.each(cases)("$name", (c) => {
    given(c.given).when(c.when).thenOutcome(c.then)
  })
})

describe("CreateProject idempotency", () => {
  it("the same command decided twice yields no events the second time", () => {
    const command = createProject()
    given([]).when(command).then([projectCreated])
    given([handled(command.commandId, projectCreated)]).when(command).thenNothing()
  })

  it("a rejected command redelivered is not decided again", () => {
    const command = createProject({ commandId: "cmd_dup", environments: [production, production] })
    given([]).when(command).thenRejected("invalid_input", "duplicate environment id: env_prod")
    const rejection = {
      type: "CommandRejected",
      commandId: "cmd_dup",
      commandType: "CreateProject",
      code: "invalid_input",
      message: "duplicate environment id: env_prod"
    } as const
    given([handled("cmd_dup", rejection)]).when(command).thenNothing()
  })

  it("a new commandId for an existing project is rejected, not ignored", () => {
    given([handled("cmd_create", projectCreated)])
      .when(createProject({ commandId: "cmd_create_2" }))
      .thenRejected("project_exists", "project already exists: proj_1")
  })
})
