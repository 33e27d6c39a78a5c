/**
 * Id formats (ids.ts): ids are NATS subject tokens and KV keys, slugs are DNS labels, apex domains are
 * lowercase domain names of at most 200 characters. Each row: accepted or refused.
 */
import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { ApexDomain, CommandId, DeploymentId, EnvironmentId, ProjectId, Slug, Token } from "../../src/domain/ids.js"

const accepts = <A>(schema: Schema.Schema<A, string>, value: unknown): boolean => Either.isRight(Schema.decodeUnknownEither(schema)(value))

describe("ids (subject tokens)", () => {
  it.each([
    { value: "proj_1", ok: true },
    { value: "a", ok: true },
    { value: "A-Z_a-z_0-9", ok: true },
    { value: "x".repeat(128), ok: true },
    { value: "x".repeat(129), ok: false },
    { value: "", ok: false },
    { value: "proj.1", ok: false },
    { value: "proj*", ok: false },
    { value: "proj>", ok: false },
    { value: "proj 1", ok: false },
    { value: "proj/1", ok: false },
    { value: "proj_1\n", ok: false },
    { value: "dép", ok: false },
    { value: 7, ok: false }
  ])("$value -> $ok", ({ value, ok }) => {
    for (const schema of [Token, ProjectId, EnvironmentId, DeploymentId, CommandId]) expect(accepts(schema, value)).toBe(ok)
  })

  it("refuses with one message for both the characters and the length", () => {
    const tooLong = Schema.decodeUnknownEither(ProjectId)("x".repeat(129))
    const badChar = Schema.decodeUnknownEither(ProjectId)("a.b")
    const message = (e: typeof tooLong) => (Either.isLeft(e) ? e.left.message : "")
    expect(message(tooLong)).toContain("must be 1-128 characters of A-Z a-z 0-9 _ -")
    expect(message(badChar)).toContain("must be 1-128 characters of A-Z a-z 0-9 _ -")
  })
})

describe("slugs (DNS labels)", () => {
  it.each([
    { value: "shop", ok: true },
    { value: "a", ok: true },
    { value: "0", ok: true },
    { value: "my-shop-2", ok: true },
    { value: "a".repeat(63), ok: true },
    { value: "a".repeat(64), ok: false },
    { value: "", ok: false },
    { value: "-shop", ok: false },
    { value: "shop-", ok: false },
    { value: "Shop", ok: false },
    { value: "my_shop", ok: false },
    { value: "my.shop", ok: false },
    { value: "shop\n", ok: false }
  ])("$value -> $ok", ({ value, ok }) => {
    expect(accepts(Slug, value)).toBe(ok)
  })

  it("says what a slug must look like", () => {
    const decoded = Schema.decodeUnknownEither(Slug)("Shop")
    expect(Either.isLeft(decoded) && decoded.left.message).toContain("must be a lowercase DNS label: a-z 0-9 and inner hyphens, at most 63 characters")
  })
})

describe("apex domains", () => {
  const label = (n: number) => "a".repeat(n)
  it.each([
    { name: "berth.localhost", value: "berth.localhost", ok: true },
    { name: "one label", value: "localhost", ok: true },
    { name: "many labels with hyphens and digits", value: "eu-1.apps.example2.com", ok: true },
    { name: "a label of 63", value: `${label(63)}.com`, ok: true },
    { name: "a label of 64", value: `${label(64)}.com`, ok: false },
    // 63 + 1 + 63 + 1 + 63 + 1 + 8 = 200 characters
    { name: "200 characters", value: `${label(63)}.${label(63)}.${label(63)}.${label(8)}`, ok: true },
    { name: "201 characters", value: `${label(63)}.${label(63)}.${label(63)}.${label(9)}`, ok: false },
    { name: "empty", value: "", ok: false },
    { name: "upper case", value: "Berth.test", ok: false },
    { name: "a trailing dot", value: "berth.test.", ok: false },
    { name: "a leading dot", value: ".berth.test", ok: false },
    { name: "an empty label", value: "berth..test", ok: false },
    { name: "a label starting with a hyphen", value: "-berth.test", ok: false },
    { name: "a label ending with a hyphen", value: "berth-.test", ok: false },
    { name: "a port", value: "berth.test:80", ok: false },
    { name: "a wildcard", value: "*.berth.test", ok: false }
  ])("$name -> $ok", ({ value, ok }) => {
    expect(accepts(ApexDomain, value)).toBe(ok)
  })

  it("says what an apex domain must look like", () => {
    const decoded = Schema.decodeUnknownEither(ApexDomain)("Berth.test")
    expect(Either.isLeft(decoded) && decoded.left.message).toContain("must be a lowercase domain name such as berth.localhost")
  })
})
