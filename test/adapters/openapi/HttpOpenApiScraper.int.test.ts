/**
 * The HTTP OpenAPI scrape over a real nats-server (the document lands in its object store) and real
 * HTTP instances: like Unkey S0, every instance is asked in turn and the first 200 wins; only when none
 * answers 200 does a 5xx or network error make the scrape worth retrying, and only an all-absent answer
 * is NotFound.
 */
import { createHash } from "node:crypto"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Duration, Effect, Either, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { HttpOpenApiScraperLive } from "../../../src/adapters/openapi/HttpOpenApiScraper.js"
import { OpenApiScraper } from "../../../src/adapters/openapi/OpenApiScraper.js"
import { Objm } from "@nats-io/obj"
import { Nats } from "../../../src/nats/Nats.js"
import { buckets } from "../../../src/nats/subjects.js"
import { startTestNats, type TestNats } from "../../support/servers.js"

const document = "openapi: 3.0.0\ninfo:\n  title: shop\n  version: 1.0.0\npaths: {}\n"

interface Instance {
  readonly address: string
  readonly hits: () => number
  readonly close: () => Promise<void>
}

/** An instance answering every request with `status` (and the document when 200). */
const instanceAnswering = async (status: number): Promise<Instance> => {
  let hits = 0
  const server: Server = createServer((_request, response) => {
    hits++
    response.writeHead(status).end(status === 200 ? document : "no")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    hits: () => hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** An instance answering with `handle`; closed after the tests. */
const serve = async (handle: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> => {
  const server: Server = createServer(handle)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  const address = `127.0.0.1:${port}`
  instances.push({
    address,
    hits: () => 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  })
  return address
}

/** An address nothing listens on (a port taken and released again). */
const refusingAddress = async (): Promise<string> => {
  const instance = await instanceAnswering(200)
  await instance.close()
  return instance.address
}

let nats: TestNats
let runtime: ManagedRuntime.ManagedRuntime<OpenApiScraper | Nats, unknown>
const instances: Array<Instance> = []

const start = async (status: number) => {
  const instance = await instanceAnswering(status)
  instances.push(instance)
  return instance
}

const scrape = (name: string, addresses: ReadonlyArray<string>) =>
  runtime.runPromise(Effect.either(Effect.flatMap(OpenApiScraper, (scraper) => scraper.scrape(name, addresses, "/openapi.yaml"))))

beforeAll(async () => {
  nats = await startTestNats()
  runtime = ManagedRuntime.make(
    HttpOpenApiScraperLive({ timeout: Duration.seconds(2), maxBytes: 1024 * 1024 }).pipe(Layer.provideMerge(Nats.layer(nats.url)))
  )
})

afterAll(async () => {
  await runtime.dispose()
  await Promise.all(instances.map((instance) => instance.close()))
  await nats.stop()
})

describe("the HTTP OpenAPI scrape", () => {
  it("takes the document from a later instance when the first answers 404", async () => {
    const absent = await start(404)
    const serving = await start(200)
    const outcome = await scrape("proj_a/dep_1", [absent.address, serving.address])
    expect(Either.getOrThrow(outcome)).toMatchObject({ _tag: "Captured", objectName: "proj_a/dep_1", sizeBytes: document.length })
    expect(absent.hits()).toBe(1)
    expect(serving.hits()).toBe(1)
  })

  it("takes the document after an instance answering another non-200 (403) or a 5xx", async () => {
    const forbidden = await start(403)
    const broken = await start(503)
    const serving = await start(200)
    const outcome = await scrape("proj_a/dep_2", [forbidden.address, broken.address, serving.address])
    expect(Either.getOrThrow(outcome)).toMatchObject({ _tag: "Captured", objectName: "proj_a/dep_2" })
  })

  it("stops at the first 200 and does not ask the instances after it", async () => {
    const serving = await start(200)
    const after = await start(200)
    const outcome = await scrape("proj_a/dep_3", [serving.address, after.address])
    expect(Either.getOrThrow(outcome)._tag).toBe("Captured")
    expect(after.hits()).toBe(0)
  })

  it("is NotFound only when every instance answers absent", async () => {
    const first = await start(404)
    const second = await start(404)
    const outcome = await scrape("proj_a/dep_4", [first.address, second.address])
    const notFound = Either.getOrThrow(outcome)
    expect(notFound._tag).toBe("NotFound")
    expect(first.hits()).toBe(1)
    expect(second.hits()).toBe(1)
  })

  it("is worth a retry (ScrapeUnavailable) when no instance answered 200 and one failed with a 5xx", async () => {
    const absent = await start(404)
    const broken = await start(500)
    const outcome = await scrape("proj_a/dep_5", [absent.address, broken.address])
    expect(Either.isLeft(outcome)).toBe(true)
    if (Either.isLeft(outcome)) expect(outcome.left.message).toContain("unexpected status 500")
  })

  it("is worth a retry when an instance cannot be reached and the others answer 404", async () => {
    const absent = await start(404)
    const outcome = await scrape("proj_a/dep_6", [await refusingAddress(), absent.address])
    expect(Either.isLeft(outcome)).toBe(true)
  })

  it("is NotFound without any instance to ask", async () => {
    const outcome = await scrape("proj_a/dep_7", [])
    expect(Either.getOrThrow(outcome)).toEqual({ _tag: "NotFound", reason: "no running instance to scrape" })
  })

  it("keeps the document where the object store's own client reads it, digest checked", async () => {
    const serving = await start(200)
    const outcome = Either.getOrThrow(await scrape("proj_b/dep_1", [serving.address]))
    const { nc } = await runtime.runPromise(Nats)
    const store = await new Objm(nc).open(buckets.openApi)
    expect(new TextDecoder().decode((await store.getBlob("proj_b/dep_1")) ?? new Uint8Array())).toBe(document)
    expect(outcome).toMatchObject({ _tag: "Captured", sha256: createHash("sha256").update(document).digest("hex") })
  })

  it("does not follow a redirect, and takes a document over the size limit as absent", async () => {
    const target = await start(200)
    const redirecting = await serve((_request, response) => response.writeHead(302, { location: `http://${target.address}/openapi.yaml` }).end())
    const huge = await serve((_request, response) => response.writeHead(200).end("x".repeat(1024 * 1024 + 1)))
    const outcome = Either.getOrThrow(await scrape("proj_b/dep_2", [redirecting, huge]))
    expect(outcome).toMatchObject({ _tag: "NotFound" })
    expect(outcome._tag === "NotFound" && outcome.reason).toContain("unexpected status 302")
    expect(outcome._tag === "NotFound" && outcome.reason).toContain("exceeds maximum size of 1048576 bytes")
    expect(target.hits()).toBe(0)
  })

  it("gives up on an instance that sends its headers and then stalls, within the timeout", async () => {
    const stalling = await serve((_request, response) => {
      response.writeHead(200)
      response.write("openapi: ")
    })
    const started = Date.now()
    const outcome = await scrape("proj_b/dep_3", [stalling])
    expect(Either.isLeft(outcome) && outcome.left.message).toContain("no answer within 2000 ms")
    expect(Date.now() - started).toBeLessThan(4_000)
  })
})
