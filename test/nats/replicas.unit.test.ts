import { Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import { clusterBlock } from "../../src/local/NatsCluster.js"
import { chooseReplication, describeReplication, replicasFor, serversOf } from "../../src/nats/replicas.js"
import { isNatsUrlList, natsServers } from "../../src/nats/servers.js"
import { clusterFromArgs, instanceNames } from "../../src/roles/cluster.js"

describe("NATS_URL lists", () => {
  it.each([
    ["nats://127.0.0.1:4222", ["nats://127.0.0.1:4222"], true],
    ["nats://a:4222,nats://b:4222, nats://c:4222", ["nats://a:4222", "nats://b:4222", "nats://c:4222"], true],
    ["nats://a:4222,", ["nats://a:4222"], true],
    ["nats://a:4222,b:4222", ["nats://a:4222", "b:4222"], false],
    ["http://a:4222", ["http://a:4222"], false],
    [" , ", [], false]
  ])("%j -> %j (valid: %s)", (url, servers, valid) => {
    expect(natsServers(url)).toEqual(servers)
    expect(isNatsUrlList(url)).toBe(valid)
  })
})

describe("replicas", () => {
  const three = ["nats://127.0.0.1:1", "nats://127.0.0.1:2", "nats://127.0.0.1:3"]
  it.each([
    ["a single server", { connect_urls: ["nats://127.0.0.1:1"] }, { cluster: undefined, servers: 1 }],
    ["a clustered server alone", { cluster: "berth", connect_urls: ["nats://127.0.0.1:1"] }, { cluster: "berth", servers: 1 }],
    ["a cluster of three", { cluster: "berth", connect_urls: three }, { cluster: "berth", servers: 3 }],
    ["a cluster announcing a URL twice", { cluster: "berth", connect_urls: [...three, three[0] ?? ""] }, { cluster: "berth", servers: 3 }],
    ["a cluster that announces nothing (no_advertise)", { cluster: "berth" }, { cluster: "berth", servers: 1 }]
  ])("%s: %j", (_, info, announced) => {
    expect(serversOf(info)).toEqual(announced)
  })

  it.each([
    [Option.none(), 1, 1, "detected"],
    [Option.none(), 2, 1, "detected"],
    [Option.none(), 3, 3, "detected"],
    [Option.none(), 5, 3, "detected"],
    [Option.some(1), 3, 1, "BERTH_REPLICAS"],
    [Option.some(5), 1, 5, "BERTH_REPLICAS"]
  ] as const)("setting %s, %i servers -> %i replicas (%s)", (setting, servers, replicas, source) => {
    expect(chooseReplication(setting, { cluster: servers > 1 ? "berth" : undefined, servers })).toMatchObject({ replicas, source })
  })

  it("a detected count raises existing streams and never lowers them; BERTH_REPLICAS sets them both ways", () => {
    const detected = chooseReplication(Option.none(), { cluster: "berth", servers: 2 })
    expect(replicasFor(detected, 3)).toBe(3)
    expect(replicasFor(chooseReplication(Option.none(), { cluster: "berth", servers: 3 }), 1)).toBe(3)
    expect(replicasFor(chooseReplication(Option.some(1), { cluster: "berth", servers: 3 }), 3)).toBe(1)
  })

  it("says where the count comes from", () => {
    expect(describeReplication(chooseReplication(Option.none(), { cluster: undefined, servers: 1 }))).toBe(
      "1 replica per stream (detected; single server)"
    )
    expect(describeReplication(chooseReplication(Option.some(3), { cluster: "berth", servers: 3 }))).toBe(
      '3 replicas per stream (BERTH_REPLICAS; cluster "berth" of 3 servers)'
    )
  })
})

describe("--cluster", () => {
  it.each([
    [["--cluster", "3"], Either.right(Option.some(3))],
    [["--cluster=5"], Either.right(Option.some(5))],
    [["--roles", "api"], Either.right(Option.none())]
  ])("%j", (argv, expected) => {
    expect(clusterFromArgs(argv)).toEqual(expected)
  })

  it.each([[["--cluster"]], [["--cluster", "2"]], [["--cluster", "three"]], [["--cluster=8"]]])("refuses %j", (argv) => {
    expect(Either.isLeft(clusterFromArgs(argv))).toBe(true)
  })

  it("names several processes of a role apart, one by its role's name", () => {
    expect(instanceNames("orchestrator", 3)).toEqual(["orchestrator-1", "orchestrator-2", "orchestrator-3"])
    expect(instanceNames("api", 1)).toEqual(["api"])
  })

  it("routes each node to the others with the route password, never to itself", () => {
    const block = clusterBlock("berth", { name: "berth-2", routePort: 6002 }, [6001, 6002, 6003], "p@ss")
    expect(block).toContain('server_name: "berth-2"')
    expect(block).toContain('listen: "127.0.0.1:6002"')
    expect(block).toContain('routes: ["nats-route://route:p%40ss@127.0.0.1:6001", "nats-route://route:p%40ss@127.0.0.1:6003"]')
    expect(block).toContain('authorization { user: "route", password: "p@ss" }')
  })
})
