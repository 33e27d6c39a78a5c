/**
 * Tenant isolation against a real nats-server, as another tenant would try it over raw NATS:
 * - a Deploy reusing another project's deployment id gets its own Krane deployment, and its failure's
 *   compensation deletes only its own (the fake Krane's calls say which it addressed);
 * - a second project cannot take a hostname another project holds (hostname_taken, naming the
 *   hostname and never the owner), and the gateway keeps routing the hostname to its owner even when
 *   a route table names it for someone else;
 * - an apex domain outside BERTH_APEX_DOMAINS is rejected.
 */
import { Kvm } from "@nats-io/kv"
import { Duration, Effect, Exit, Layer, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startGateway, type GatewayAddress } from "../../src/adapters/gateway/proxy/GatewayServer.js"
import type { StoredRouteTable } from "../../src/adapters/routing/RoutingService.js"
import type { ProjectEvent } from "../../src/domain/events.js"
import { Nats } from "../../src/nats/Nats.js"
import { buckets } from "../../src/nats/subjects.js"
import { call, startUpstream, type Upstream } from "../adapters/gateway/support.js"
import { useActorFixture } from "../support/actorFixture.js"
import { makeFakeKrane } from "../support/FakeKrane.js"
import { createProjectCommand, deployCommand, fastSettings, startOrchestrator } from "../support/orchestrator.js"

const fixture = useActorFixture()

const rejectionOf = (events: ReadonlyArray<ProjectEvent>, commandId: string) =>
  events.find((event): event is Extract<ProjectEvent, { type: "CommandRejected" }> => event.type === "CommandRejected" && event.commandId === commandId)

const ofType = <T extends ProjectEvent["type"]>(events: ReadonlyArray<ProjectEvent>, type: T) =>
  events.filter((event): event is Extract<ProjectEvent, { type: T }> => event.type === type)

describe("a Deploy reusing another project's deployment id", () => {
  it("gets its own Krane deployment and never touches the other project's, not even when it fails", async () => {
    const krane = makeFakeKrane()
    krane.setInstanceAddress((spec, replica) => `${spec.deploymentId}.${replica}.krane.test:8080`)
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer, { ...fastSettings, readinessTimeout: Duration.millis(500) })
    try {
      // Both projects in the same workspace string, hence the same Krane namespace.
      await fixture.client.publish("proj_owner", createProjectCommand("proj_owner"))
      await fixture.client.publish("proj_owner", deployCommand("proj_owner", "dep_1"))
      const owner = await fixture.client.waitForEvent("proj_owner", (event) => event.type === "LiveSwitched")
      const ownerInstances = ofType(owner, "InstancesObserved").at(-1)?.instances.map((instance) => instance.address)
      expect(ownerInstances).toEqual(["proj_owner--dep_1.0.krane.test:8080"])

      // The intruder's deployment never becomes ready: it fails and is compensated.
      krane.neverReady()
      await fixture.client.publish("proj_intruder", createProjectCommand("proj_intruder"))
      await fixture.client.publish("proj_intruder", deployCommand("proj_intruder", "dep_1"))
      const intruder = await fixture.client.waitForEvent("proj_intruder", (event) => event.type === "DeploymentCompensated")

      expect(krane.createCalls.map((call) => [call.namespace, call.deploymentId])).toEqual([
        ["acme", "proj_owner--dep_1"],
        ["acme", "proj_intruder--dep_1"]
      ])
      expect(ofType(intruder, "KraneDeploymentCreated")).toMatchObject([{ kraneDeploymentId: "proj_intruder--dep_1" }])
      // It never adopted the owner's instances…
      for (const observed of ofType(intruder, "InstancesObserved")) {
        for (const instance of observed.instances) expect(instance.address).not.toContain("proj_owner")
      }
      expect(ofType(intruder, "DeploymentFailed")).toMatchObject([{ deploymentId: "dep_1", step: "await-instances" }])
      // …and its compensation deleted its own Krane deployment only.
      expect(krane.deleteCalls).toEqual([{ namespace: "acme", deploymentId: "proj_intruder--dep_1" }])
      expect(krane.has("acme", "proj_owner--dep_1")).toBe(true)
      expect(krane.getCalls.filter((call) => call.deploymentId === "proj_owner--dep_1").length).toBeGreaterThan(0)
      expect(krane.getCalls.every((call) => call.deploymentId.startsWith("proj_owner--") || call.deploymentId.startsWith("proj_intruder--"))).toBe(true)

      // The owner is untouched: still live, nothing after its go-live.
      const after = await fixture.client.events("proj_owner")
      expect(after.at(-1)).toEqual({ type: "LiveSwitched", from: null, to: "dep_1", reason: "deploy" })
    } finally {
      await orchestrator.stop()
    }
  })
})

describe("hostname claims", () => {
  let gatewayScope: Scope.CloseableScope
  let gateway: GatewayAddress
  let ownerApp: Upstream
  let intruderApp: Upstream

  beforeAll(async () => {
    ownerApp = await startUpstream("owner")
    intruderApp = await startUpstream("intruder")
    gatewayScope = Effect.runSync(Scope.make())
    gateway = await Effect.runPromise(
      Effect.gen(function* () {
        const context = yield* Layer.build(Nats.layer(fixture.nats.url))
        return yield* startGateway({ port: 0, host: "127.0.0.1" }).pipe(Effect.provide(context))
      }).pipe(Scope.extend(gatewayScope))
    )
  })

  afterAll(async () => {
    await Effect.runPromise(Scope.close(gatewayScope, Exit.void))
    await ownerApp?.close()
    await intruderApp?.close()
  })

  const served = async (host: string) => {
    const reply = await call(gateway.url, host)
    return reply.status === 200 ? reply.json<{ name: string }>().name : `HTTP ${reply.status}`
  }

  const until = async (probe: () => Promise<boolean>, withinMs = 5_000) => {
    const started = Date.now()
    while (!(await probe())) {
      if (Date.now() - started > withinMs) throw new Error(`condition not met within ${withinMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  it("rejects a second project that would take a claimed hostname, and the gateway keeps routing it to the owner", async () => {
    const krane = makeFakeKrane()
    krane.setInstanceAddress((spec) => (spec.deploymentId.startsWith("proj_shop_owner--") ? ownerApp.address : intruderApp.address))
    const orchestrator = await startOrchestrator(fixture.nats.url, krane.layer)
    try {
      const shop = { ...createProjectCommand("proj_shop_owner"), slug: "shop" }
      await fixture.client.publish("proj_shop_owner", shop)
      await fixture.client.publish("proj_shop_owner", deployCommand("proj_shop_owner", "dep_1"))
      await fixture.client.waitForEvent("proj_shop_owner", (event) => event.type === "LiveSwitched")
      const live = "shop-acme.berth.test"
      await until(async () => (await served(live)) === "owner")

      // Same workspace and slug: every hostname it would get is the owner's.
      await fixture.client.publish("proj_shop_copy", { ...createProjectCommand("proj_shop_copy", "cmd_copy"), slug: "shop" })
      const copy = await fixture.client.waitForEvent("proj_shop_copy", (event) => event.type === "CommandRejected")
      const rejected = rejectionOf(copy, "cmd_copy")
      expect(rejected).toMatchObject({ code: "hostname_taken" })
      expect(rejected?.message).toBe("hostname already taken by another project: shop-acme.berth.test, shop-preview-acme.berth.test, shop-production-acme.berth.test")
      expect(rejected?.message).not.toContain("proj_shop_owner")
      expect(ofType(copy, "ProjectCreated")).toEqual([])

      // A slug crafted so that its live hostname is the owner's branch hostname (shop-git-main-acme).
      await fixture.client.publish("proj_crafted", { ...createProjectCommand("proj_crafted", "cmd_crafted"), slug: "shop-git-main" })
      const crafted = await fixture.client.waitForEvent("proj_crafted", (event) => event.type === "CommandRejected")
      expect(rejectionOf(crafted, "cmd_crafted")).toMatchObject({
        code: "hostname_taken",
        message: "hostname already taken by another project: shop-git-main-acme.berth.test"
      })

      // A Deploy whose per-deployment hostname is the owner's branch hostname: project slug "shop-git"
      // (no production environment, so nothing collides at creation), deployment id "main".
      await fixture.client.publish("proj_shopgit", {
        ...createProjectCommand("proj_shopgit"),
        slug: "shop-git",
        environments: [{ id: "env_prev", slug: "preview", kind: "preview" }]
      })
      await fixture.client.publish("proj_shopgit", { ...deployCommand("proj_shopgit", "main"), environmentId: "env_prev", commandId: "cmd_sg" })
      const shopgit = await fixture.client.waitForEvent("proj_shopgit", (event) => event.type === "CommandRejected")
      expect(ofType(shopgit, "ProjectCreated")).toHaveLength(1)
      expect(rejectionOf(shopgit, "cmd_sg")).toMatchObject({
        code: "hostname_taken",
        message: "hostname already taken by another project: shop-git-main-acme.berth.test"
      })
      expect(ofType(shopgit, "DeploymentRequested")).toEqual([])
      expect(krane.createCalls.map((spec) => spec.deploymentId)).toEqual(["proj_shop_owner--dep_1"])

      // A route table that names the owner's hostname for another project (written by hand, a stale
      // writer, …) does not take the owner's traffic: the gateway follows the claim.
      const routes = await new Kvm(fixture.client.nc).open(buckets.routes)
      const rogue: StoredRouteTable = {
        projectId: "proj_rogue",
        basedOnVersion: 1_000,
        routes: { [live]: { deploymentId: "dep_rogue", sticky: "live", environmentId: "env_prod" } },
        upstreams: { dep_rogue: [intruderApp.address] }
      }
      await routes.put("proj_rogue", JSON.stringify(rogue))
      await new Promise((resolve) => setTimeout(resolve, 300))
      for (let i = 0; i < 5; i++) expect(await served(live)).toBe("owner")
      expect(intruderApp.seen.length).toBe(0)
    } finally {
      await orchestrator.stop()
    }
  })

  it("claims the hostnames already routed when the orchestrator starts (backfill), once", async () => {
    // A route table from before claims existed: nothing holds its hostnames, so the gateway serves none.
    const routes = await new Kvm(fixture.client.nc).open(buckets.routes)
    const legacyHost = "legacy-acme.berth.test"
    const legacy: StoredRouteTable = {
      projectId: "proj_legacy",
      basedOnVersion: 3,
      routes: { [legacyHost]: { deploymentId: "dep_old", sticky: "live", environmentId: "env_prod" } },
      upstreams: { dep_old: [ownerApp.address] }
    }
    await routes.put("proj_legacy", JSON.stringify(legacy))
    const claims = await new Kvm(fixture.client.nc).open(buckets.hostnames)
    // The first orchestrator of this file ran the backfill already: remove its marker to run it again.
    await claims.delete("_backfilled-v1")
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await served(legacyHost)).toBe("HTTP 404")
    const orchestrator = await startOrchestrator(fixture.nats.url, makeFakeKrane().layer)
    try {
      expect((await claims.get(legacyHost))?.string()).toBe("proj_legacy")
      await until(async () => (await served(legacyHost)) === "owner")
      // The rogue table of the previous test was backfilled after the owner's: the owner keeps its hostname.
      expect((await claims.get("shop-acme.berth.test"))?.string()).toBe("proj_shop_owner")
    } finally {
      await orchestrator.stop()
    }
  })
})

describe("apex domains", () => {
  it("rejects a project whose apex domain is not in BERTH_APEX_DOMAINS", async () => {
    const orchestrator = await startOrchestrator(fixture.nats.url, makeFakeKrane().layer)
    try {
      await fixture.client.publish("proj_apex", { ...createProjectCommand("proj_apex", "cmd_apex"), apexDomain: "bank.example" })
      const events = await fixture.client.waitForEvent("proj_apex", (event) => event.type === "CommandRejected")
      expect(rejectionOf(events, "cmd_apex")).toMatchObject({
        code: "invalid_input",
        message: "apex domain bank.example is not allowed: this Berth serves berth.localhost, localhost, berth.test, example.com"
      })
      expect(ofType(events, "ProjectCreated")).toEqual([])
    } finally {
      await orchestrator.stop()
    }
  })
})
