import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { needsDatabase, needsKrane, parseRoles } from "../../src/roles/roles.js"

describe("parseRoles", () => {
  it.each([
    ["all", ["orchestrator", "projector", "api", "gateway"]],
    ["", ["orchestrator", "projector", "api", "gateway"]],
    ["orchestrator", ["orchestrator"]],
    ["api,orchestrator", ["orchestrator", "api"]],
    [" projector , gateway ", ["projector", "gateway"]],
    ["api,api", ["api"]]
  ])("%j -> %j (in Berth's order)", (text, roles) => {
    expect(parseRoles(text)).toEqual(Either.right(roles))
  })

  it.each([
    ["orchestrater", "unknown role orchestrater (roles: orchestrator, projector, api, gateway, or all)"],
    ["api,krane-local", "unknown role krane-local (roles: orchestrator, projector, api, gateway, or all)"],
    ["all,api", "unknown role all (roles: orchestrator, projector, api, gateway, or all)"]
  ])("refuses %j naming the role", (text, message) => {
    expect(parseRoles(text)).toEqual(Either.left(message))
  })
})

describe("what roles need", () => {
  it.each([
    [["orchestrator"], false, true],
    [["projector"], true, false],
    [["api"], true, false],
    [["gateway"], false, false],
    [["orchestrator", "gateway"], false, true]
  ] as const)("%j: PostgreSQL %s, Krane %s", (roles, database, krane) => {
    expect(needsDatabase(roles)).toBe(database)
    expect(needsKrane(roles)).toBe(krane)
  })
})
