/**
 * The gateway's pure routing data: Host normalisation, the index across project tables, round robin.
 */
import { describe, expect, it } from "vitest"
import { buildRouteIndex, hostnameOf, RoundRobin, routeFor } from "../../../src/adapters/gateway/RouteIndex.js"
import type { StoredRouteTable } from "../../../src/adapters/routing/RoutingService.js"

const table = (projectId: string, routes: Record<string, string>, upstreams: Record<string, Array<string>>): StoredRouteTable => ({
  projectId,
  basedOnVersion: 1,
  routes: Object.fromEntries(Object.entries(routes).map(([h, d]) => [h, { deploymentId: d, sticky: "live", environmentId: "env" }])),
  upstreams
})

describe("RouteIndex", () => {
  it("normalises Host headers: case, port, trailing dot, IPv6", () => {
    expect(hostnameOf("Shop.Berth.Localhost:8080")).toBe("shop.berth.localhost")
    expect(hostnameOf("shop.berth.localhost.")).toBe("shop.berth.localhost")
    expect(hostnameOf("[::1]:8080")).toBe("[::1]")
    expect(hostnameOf(undefined)).toBe("")
  })

  it("maps every hostname to its deployment's upstreams, served only to the project holding its claim", () => {
    const index = buildRouteIndex([
      table("p1", { "A.example": "d1", "shared.example": "d1", "b.example": "d2" }, { d1: ["h:1", "h:2"] }),
      table("p2", { "shared.example": "d3", "unclaimed.example": "d3" }, { d3: ["h:3"] })
    ])
    const claims: Record<string, string> = { "a.example": "p1", "b.example": "p1", "shared.example": "p1" }
    const holder = (hostname: string) => claims[hostname]
    expect(routeFor(index, "a.example", holder)).toEqual({ hostname: "a.example", projectId: "p1", deploymentId: "d1", upstreams: ["h:1", "h:2"] })
    expect(routeFor(index, "b.example", holder)?.upstreams).toEqual([])
    // p2's table names p1's hostname (it was written later): the owner keeps its traffic.
    expect(routeFor(index, "shared.example", holder)).toMatchObject({ projectId: "p1", deploymentId: "d1" })
    claims["shared.example"] = "p2"
    expect(routeFor(index, "shared.example", holder)).toMatchObject({ projectId: "p2", deploymentId: "d3" })
    // Nobody holds it, or its holder's table does not name it: nobody is served (fail closed).
    expect(routeFor(index, "unclaimed.example", holder)).toBeUndefined()
    claims["unclaimed.example"] = "p3"
    expect(routeFor(index, "unclaimed.example", holder)).toBeUndefined()
    expect(routeFor(index, "nowhere.example", holder)).toBeUndefined()
  })

  it("rotates the starting instance per deployment", () => {
    const rr = new RoundRobin()
    expect(rr.order("d", ["a", "b", "c"])).toEqual(["a", "b", "c"])
    expect(rr.order("d", ["a", "b", "c"])).toEqual(["b", "c", "a"])
    expect(rr.order("other", ["x", "y"])).toEqual(["x", "y"])
    expect(rr.order("d", ["a", "b", "c"])).toEqual(["c", "a", "b"])
    expect(rr.order("d", ["a", "b", "c"])).toEqual(["a", "b", "c"])
  })
})

describe("RoundRobin cooldown", () => {
  it("tries an instance that refused last until the cooldown passes or it answers", () => {
    const rr = new RoundRobin(1_000)
    expect(rr.markDown("a", 0)).toBe(true)
    expect(rr.markDown("a", 10)).toBe(false)
    expect(rr.order("d", ["a", "b", "c"], 500)).toEqual(["b", "c", "a"])
    expect(rr.order("d", ["a", "b", "c"], 500)).toEqual(["b", "c", "a"])
    expect(rr.order("d", ["a", "b", "c"], 1_500)).toEqual(["c", "a", "b"])
    rr.markDown("c", 2_000)
    rr.markUp("c")
    expect(rr.order("d", ["a", "b", "c"], 2_000)).toEqual(["a", "b", "c"])
  })
})
