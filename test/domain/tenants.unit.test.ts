/**
 * Tenant isolation, the pure parts: Krane ids and OpenAPI object names keyed by project, the apex
 * domain list, which hostnames a decision claims, and the decider's apex check.
 */
import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { apexIssue, defaultApexDomains, parseApexDomains } from "../../src/domain/apex.js"
import { hostnamesToClaim, hostnameTakenMessage, projectHostnames } from "../../src/domain/claims.js"
import { decide } from "../../src/domain/decide.js"
import { kraneDeploymentId, kraneIdMaxChars, openApiObjectName } from "../../src/domain/kraneIds.js"
import { sha256Hex } from "../../src/domain/sha256.js"
import { initialState } from "../../src/domain/state.js"
import { kraneIdOf, nextSteps } from "../../src/domain/steps.js"
import {
  building,
  context,
  createProject,
  deploy,
  given,
  kraneCreated,
  liveHost,
  previewHost,
  productionHost,
  projectCreated,
  requested,
  stateOf,
  eventsOf
} from "./decider.js"

describe("sha256Hex", () => {
  it.each([
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    ["abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"]
  ])("%j -> the FIPS 180-4 test vector", (input, digest) => {
    expect(sha256Hex(input)).toBe(digest)
  })

  it.each([55, 56, 63, 64, 65, 119, 1000])("matches node:crypto at %i bytes (padding edges), UTF-8 included", (length) => {
    for (const text of ["a".repeat(length), "é".repeat(length)]) {
      expect(sha256Hex(text)).toBe(createHash("sha256").update(text).digest("hex"))
    }
  })
})

describe("kraneDeploymentId", () => {
  const hashed = (projectId: string, deploymentId: string) => `h-${sha256Hex(`${projectId}\u0000${deploymentId}`)}`

  it.each([
    { name: "readable when the project id has no '-'", projectId: "proj_1", deploymentId: "dep_1", expected: "proj_1--dep_1" },
    { name: "a deployment id with '-' stays readable", projectId: "proj_1", deploymentId: "dep-a-b", expected: "proj_1--dep-a-b" },
    { name: "hashed when the project id has a '-'", projectId: "proj-1", deploymentId: "dep_1", expected: hashed("proj-1", "dep_1") },
    { name: "hashed when the readable id exceeds 128 characters", projectId: "p".repeat(64), deploymentId: "d".repeat(63), expected: hashed("p".repeat(64), "d".repeat(63)) },
    { name: "readable at exactly 128 characters", projectId: "p".repeat(63), deploymentId: "d".repeat(63), expected: `${"p".repeat(63)}--${"d".repeat(63)}` }
  ])("$name", ({ projectId, deploymentId, expected }) => {
    const id = kraneDeploymentId(projectId, deploymentId)
    expect(id).toBe(expected)
    expect(id.length).toBeLessThanOrEqual(kraneIdMaxChars)
    expect(id).toMatch(/^[A-Za-z0-9_-]+$/)
  })

  it("never gives two (project, deployment) pairs the same id, however the ids are cut", () => {
    const pairs: ReadonlyArray<readonly [string, string]> = [
      ["a", "b--c"],
      ["a--b", "c"],
      ["a-", "-b"],
      ["a", "--b"],
      ["a", "-b"],
      ["a-", "b"],
      ["h", "x"],
      ["proj_1", "dep_1"],
      ["proj_2", "dep_1"],
      ["proj_1", "dep_2"],
      ["p".repeat(64), "d".repeat(63)],
      ["p".repeat(63), "d".repeat(64)]
    ]
    const ids = pairs.map(([p, d]) => kraneDeploymentId(p, d))
    expect(new Set(ids).size).toBe(pairs.length)
  })

  it("OpenAPI documents are stored per project", () => {
    expect(openApiObjectName("proj_a", "dep_1")).toBe("proj_a/dep_1")
    expect(openApiObjectName("proj_b", "dep_1")).not.toBe(openApiObjectName("proj_a", "dep_1"))
  })
})

describe("the steps address the project's own Krane deployment", () => {
  it("krane-create, await-instances and compensate use the id keyed by project; a legacy deployment keeps its own id", () => {
    const created = nextSteps(stateOf([projectCreated, requested("dep_1"), building("dep_1")]))
    expect(created).toMatchObject([{ kind: "krane-create", deploymentId: "dep_1", kraneDeploymentId: "proj_1--dep_1" }])
    const recorded = stateOf([projectCreated, requested("dep_1"), building("dep_1"), kraneCreated("dep_1")])
    expect(nextSteps(recorded)).toMatchObject([{ kind: "await-instances", kraneDeploymentId: "proj_1--dep_1" }])
    // Written before Krane ids were keyed by project: no id recorded, Krane knows it by its own id.
    const { kraneDeploymentId: _, ...legacyEvent } = kraneCreated("dep_1")
    const legacy = stateOf([projectCreated, requested("dep_1"), building("dep_1"), legacyEvent])
    const deployment = legacy.deployments["dep_1"]
    expect(deployment === undefined ? undefined : kraneIdOf("proj_1", deployment)).toBe("dep_1")
    expect(nextSteps(legacy)).toMatchObject([{ kind: "await-instances", kraneDeploymentId: "dep_1" }])
  })
})

describe("BERTH_APEX_DOMAINS", () => {
  it.each([
    ["berth.localhost,localhost", ["berth.localhost", "localhost"]],
    [" Example.COM. , berth.test,,example.com ", ["example.com", "berth.test"]]
  ])("parses %j", (text, domains) => {
    expect(parseApexDomains(text)).toEqual({ domains })
  })

  it("defaults to what a laptop resolves to itself, a list that parses as itself", () => {
    expect(defaultApexDomains).toStrictEqual(["berth.localhost", "localhost"])
    expect(parseApexDomains(defaultApexDomains.join(","))).toEqual({ domains: defaultApexDomains })
  })

  it.each([
    ["", "must name at least one apex domain (e.g. berth.localhost,localhost)"],
    [" , ", "must name at least one apex domain (e.g. berth.localhost,localhost)"],
    ["berth.localhost,evil_zone.com", "\"evil_zone.com\" is not a lowercase domain name"],
    ["-bad.com", "\"-bad.com\" is not a lowercase domain name"]
  ])("refuses %j", (text, problem) => {
    expect(parseApexDomains(text)).toEqual({ problem })
  })

  it.each([
    ["berth.localhost", undefined],
    ["localhost", undefined],
    ["evil.berth.localhost", "apex domain evil.berth.localhost is not allowed: this Berth serves berth.localhost, localhost"],
    ["bank.example", "apex domain bank.example is not allowed: this Berth serves berth.localhost, localhost"]
  ])("apex %s", (apex, issue) => {
    expect(apexIssue(apex, ["berth.localhost", "localhost"])).toBe(issue)
  })

  it("CreateProject with an apex outside the list is rejected (before anything else about the project)", () => {
    given([]).when(createProject({ apexDomain: "bank.example" })).thenRejected(
      "invalid_input",
      "apex domain bank.example is not allowed: this Berth serves berth.localhost, localhost, berth.test, example.com"
    )
    given([]).when(createProject({ apexDomain: "bank.example" }), { ...context, apexDomains: ["bank.example"] }).then([
      { ...projectCreated, apexDomain: "bank.example" }
    ])
  })
})

describe("hostnames a decision claims", () => {
  const decided = (state: typeof initialState, message: Parameters<typeof decide>[1]) => {
    return eventsOf(decide(state, message, context))
  }

  it("a new project claims each environment's hostname and the live one", () => {
    expect(hostnamesToClaim(initialState, decided(initialState, createProject()))).toEqual([liveHost, previewHost, productionHost])
    expect(projectHostnames({ ...projectCreated, openApiPath: undefined })).toEqual([productionHost, liveHost, previewHost])
  })

  it("a new deployment claims every hostname it will get: commit, branch, environment, live, per-deployment", () => {
    const state = stateOf([projectCreated])
    const events = decided(state, deploy({ git: { sha: "a1b2c3d4", branch: "Feature/X" } }))
    expect(hostnamesToClaim(state, events)).toEqual([
      "shop-acme.berth.localhost",
      "shop-dep-1-acme.berth.localhost",
      "shop-git-a1b2c3d-acme.berth.localhost",
      "shop-git-feature-x-acme.berth.localhost",
      "shop-production-acme.berth.localhost"
    ])
    const previewDeploy = decided(state, deploy({ deploymentId: "dep_2", environmentId: "env_preview" }))
    expect(hostnamesToClaim(state, previewDeploy)).toEqual(["shop-dep-2-acme.berth.localhost", previewHost])
  })

  it("a deployment in a project that does not exist claims nothing", () => {
    expect(hostnamesToClaim(initialState, [requested("dep_1"), building("dep_1")])).toEqual([])
  })

  it("a new project and its first deployment in one decision claim both", () => {
    const deployment = { ...requested("dep_1"), environmentId: "env_preview" }
    expect(hostnamesToClaim(initialState, [projectCreated, deployment])).toEqual(
      ["shop-dep-1-acme.berth.localhost", liveHost, previewHost, productionHost].sort()
    )
  })

  it("rejections and step results claim nothing", () => {
    const state = stateOf([projectCreated])
    expect(hostnamesToClaim(state, [{ type: "CommandRejected", commandId: "c", commandType: "Deploy", code: "x", message: "y" }])).toEqual([])
    expect(hostnamesToClaim(state, [building("dep_1")])).toEqual([])
    expect(hostnamesToClaim(initialState, [])).toEqual([])
  })

  it("the rejection names the hostnames, never the project holding them", () => {
    expect(hostnameTakenMessage(["a.berth.localhost", "b.berth.localhost"])).toBe(
      "hostname already taken by another project: a.berth.localhost, b.berth.localhost"
    )
  })
})
