/**
 * Generated hostnames (Unkey spec 3.3 and 5.2, with the differences documented in src/domain/domains.ts).
 */
import { describe, expect, it } from "vitest"
import { buildDomains, deploymentLabel, fitLabel, sluggify, stableHash, type DomainInputs } from "../../src/domain/domains.js"
import type { DomainAssignment } from "../../src/domain/events.js"

describe("sluggify", () => {
  const cases: ReadonlyArray<{ readonly name: string; readonly input: string; readonly expected: string }> = [
    { name: "Unkey's example", input: "feature/Login_Page", expected: "feature-login-page" },
    { name: "plain lowercase", input: "main", expected: "main" },
    { name: "uppercase is lowered", input: "RELEASE", expected: "release" },
    { name: "surrounding whitespace is trimmed", input: "  main  ", expected: "main" },
    { name: "inner whitespace runs collapse to one hyphen", input: "fix   the\t\tbug\nnow", expected: "fix-the-bug-now" },
    { name: "runs of separators collapse", input: "a--b__c//d", expected: "a-b-c-d" },
    { name: "dots and digits", input: "release/1.2.3", expected: "release-1-2-3" },
    {
      name: "dependabot branch",
      input: "dependabot/npm_and_yarn/lodash-4.17.21",
      expected: "dependabot-npm-and-yarn-lodash-4-17-21"
    },
    { name: "non-ASCII letters become separators", input: "naïve café", expected: "na-ve-caf" },
    { name: "leading non-ASCII letter is dropped", input: "über", expected: "ber" },
    { name: "only non-ASCII is empty", input: "日本語", expected: "" },
    { name: "emoji becomes a separator", input: "fix 🐛 bug", expected: "fix-bug" },
    { name: "leading /x drops the hyphen (Unkey keeps it: -x)", input: "/x", expected: "x" },
    { name: "trailing separator dropped", input: "x/", expected: "x" },
    { name: "several trailing separators dropped (Unkey strips one)", input: "x//  --", expected: "x" },
    { name: "only separators is empty", input: "-/_ .", expected: "" },
    { name: "empty", input: "", expected: "" },
    { name: "truncated to 80 characters", input: "a".repeat(100), expected: "a".repeat(80) },
    { name: "80 characters kept", input: "b".repeat(80), expected: "b".repeat(80) },
    {
      name: "a hyphen left at the 80-character cut is dropped",
      input: `${"a".repeat(79)}/bcd`,
      expected: "a".repeat(79)
    },
    {
      name: "truncation counts after collapsing",
      input: `${"a ".repeat(50)}`,
      expected: `${"a-".repeat(40)}`.slice(0, 79)
    }
  ]

  it.each(cases)("$name: $input", ({ input, expected }) => {
    expect(sluggify(input)).toBe(expected)
  })
})

describe("stableHash", () => {
  // FNV-1a 32-bit reference vectors, rendered in base 36 and padded to 7 characters.
  const cases: ReadonlyArray<{ readonly input: string; readonly fnv1a: number }> = [
    { input: "", fnv1a: 0x811c9dc5 },
    { input: "a", fnv1a: 0xe40c292c },
    { input: "foobar", fnv1a: 0xbf9cf968 }
  ]

  it.each(cases)("FNV-1a of '$input'", ({ input, fnv1a }) => {
    expect(stableHash(input)).toBe(fnv1a.toString(36).padStart(7, "0"))
  })

  it("is always 7 base-36 characters and deterministic", () => {
    for (const input of ["", "x", "d_AbC123xyz", "a".repeat(500), "日本語"]) {
      expect(stableHash(input)).toMatch(/^[0-9a-z]{7}$/)
      expect(stableHash(input)).toBe(stableHash(input))
    }
  })
})

describe("fitLabel", () => {
  const long = (length: number, fill = "a") => fill.repeat(length)

  const kept: ReadonlyArray<{ readonly name: string; readonly label: string }> = [
    { name: "short", label: "shop-production-acme" },
    { name: "62 characters", label: long(62) },
    { name: "exactly 63 characters", label: long(63) }
  ]
  it.each(kept)("keeps a label of at most 63 characters: $name", ({ label }) => {
    expect(fitLabel(label)).toBe(label)
  })

  const cut: ReadonlyArray<{ readonly name: string; readonly label: string; readonly expected: string }> = [
    {
      name: "64 characters: first 55 kept, hash of the whole label appended",
      label: long(64),
      expected: `${long(55)}-${stableHash(long(64))}`
    },
    {
      name: "a hyphen at the cut is not doubled",
      label: `${long(54)}-${long(20, "b")}`,
      expected: `${long(54)}-${stableHash(`${long(54)}-${long(20, "b")}`)}`
    },
    {
      name: "several hyphens at the cut are dropped",
      label: `${long(52)}---${long(20, "b")}`,
      expected: `${long(52)}-${stableHash(`${long(52)}---${long(20, "b")}`)}`
    },
    {
      name: "label ending in a hyphen",
      label: `${long(70)}-`,
      expected: `${long(55)}-${stableHash(`${long(70)}-`)}`
    }
  ]
  it.each(cut)("cuts a longer label: $name", ({ label, expected }) => {
    expect(fitLabel(label)).toBe(expected)
    expect(fitLabel(label)).toBe(fitLabel(label))
  })

  it("keeps two long labels that share a 63-character prefix distinct", () => {
    const a = `${long(63)}-feature-one`
    const b = `${long(63)}-feature-two`
    expect(fitLabel(a)).not.toBe(fitLabel(b))
  })

  it("always returns at most 63 characters that do not end with a hyphen", () => {
    const labels = [
      long(64),
      long(200),
      `${long(54)}-${long(40, "c")}`,
      `shop-git-${"feature-".repeat(12)}acme`,
      `${"a-".repeat(40)}`,
      `${long(70)}-`
    ]
    for (const label of labels) {
      const fitted = fitLabel(label)
      expect(fitted.length, fitted).toBeLessThanOrEqual(63)
      expect(fitted.endsWith("-"), fitted).toBe(false)
    }
  })
})

describe("deploymentLabel", () => {
  const cases: ReadonlyArray<{ readonly id: string; readonly expected: string }> = [
    { id: "dep_1", expected: "dep-1" },
    { id: "d_abc123xyz", expected: "d-abc123xyz" },
    { id: "d_AbC123xyz", expected: `d-abc123xyz-${stableHash("d_AbC123xyz").slice(-4)}` },
    { id: "DEP", expected: `dep-${stableHash("DEP").slice(-4)}` }
  ]
  it.each(cases)("$id -> $expected", ({ id, expected }) => {
    expect(deploymentLabel(id)).toBe(expected)
  })

  // Per-deployment hostnames always route to their deployment, so two ids must never share a label
  // (Unkey's case collision, spec 5.2, is what the suffix is for).
  const distinct: ReadonlyArray<{ readonly name: string; readonly a: string; readonly b: string }> = [
    { name: "ids differing only in case", a: "d_AbC123xyz", b: "d_abc123xyz" },
    { name: "ids differing only in case, both with capitals", a: "d_ABC", b: "d_AbC" },
    { name: "ids differing only in _ versus -", a: "dep_a_b", b: "dep_a-b" },
    { name: "ids differing only in a doubled separator", a: "dep__1", b: "dep_1" },
    { name: "128-character ids differing after character 80", a: `dep_${"x".repeat(123)}a`, b: `dep_${"x".repeat(123)}b` }
  ]
  it.each(distinct)("gives distinct labels to $name", ({ a, b }) => {
    expect(fitLabel(deploymentLabel(a))).not.toBe(fitLabel(deploymentLabel(b)))
  })
})

describe("buildDomains", () => {
  const base: DomainInputs = {
    workspaceSlug: "acme",
    projectSlug: "shop",
    environmentSlug: "production",
    isProduction: true,
    apexDomain: "berth.localhost",
    deploymentId: "dep_1"
  }
  const longProject = "p".repeat(40)
  const longBranchLabel = `${longProject}-git-${"feature-".repeat(4)}login-acme`

  const cases: ReadonlyArray<{
    readonly name: string
    readonly input: DomainInputs
    readonly expected: ReadonlyArray<DomainAssignment>
  }> = [
    {
      name: "production with sha and branch: commit, branch, environment, live, deployment",
      input: { ...base, gitSha: "ABCDEF0123456789", branch: "feature/Login_Page" },
      expected: [
        { hostname: "shop-git-abcdef0-acme.berth.localhost", sticky: "none" },
        { hostname: "shop-git-feature-login-page-acme.berth.localhost", sticky: "branch" },
        { hostname: "shop-production-acme.berth.localhost", sticky: "environment" },
        { hostname: "shop-acme.berth.localhost", sticky: "live" },
        { hostname: "shop-dep-1-acme.berth.localhost", sticky: "deployment" }
      ]
    },
    {
      name: "preview with sha and branch: no live hostname",
      input: {
        ...base,
        environmentSlug: "preview",
        isProduction: false,
        deploymentId: "dep_2",
        gitSha: "1234567",
        branch: "main"
      },
      expected: [
        { hostname: "shop-git-1234567-acme.berth.localhost", sticky: "none" },
        { hostname: "shop-git-main-acme.berth.localhost", sticky: "branch" },
        { hostname: "shop-preview-acme.berth.localhost", sticky: "environment" },
        { hostname: "shop-dep-2-acme.berth.localhost", sticky: "deployment" }
      ]
    },
    {
      name: "production without git",
      input: base,
      expected: [
        { hostname: "shop-production-acme.berth.localhost", sticky: "environment" },
        { hostname: "shop-acme.berth.localhost", sticky: "live" },
        { hostname: "shop-dep-1-acme.berth.localhost", sticky: "deployment" }
      ]
    },
    {
      name: "preview without git",
      input: { ...base, environmentSlug: "preview", isProduction: false },
      expected: [
        { hostname: "shop-preview-acme.berth.localhost", sticky: "environment" },
        { hostname: "shop-dep-1-acme.berth.localhost", sticky: "deployment" }
      ]
    },
    {
      name: "sha only: commit truncated to 7 and lowercased, no branch",
      input: { ...base, gitSha: "DEADBEEFCAFE" },
      expected: [
        { hostname: "shop-git-deadbee-acme.berth.localhost", sticky: "none" },
        { hostname: "shop-production-acme.berth.localhost", sticky: "environment" },
        { hostname: "shop-acme.berth.localhost", sticky: "live" },
        { hostname: "shop-dep-1-acme.berth.localhost", sticky: "deployment" }
      ]
    },
    {
      name: "empty sha and empty branch are absent",
      input: { ...base, gitSha: "", branch: "" },
      expected: [
        { hostname: "shop-production-acme.berth.localhost", sticky: "environment" },
        { hostname: "shop-acme.berth.localhost", sticky: "live" },
        { hostname: "shop-dep-1-acme.berth.localhost", sticky: "deployment" }
      ]
    },
    {
      name: "a branch that sluggifies to nothing gets no hostname",
      input: { ...base, branch: "日本語" },
      expected: [
        { hostname: "shop-production-acme.berth.localhost", sticky: "environment" },
        { hostname: "shop-acme.berth.localhost", sticky: "live" },
        { hostname: "shop-dep-1-acme.berth.localhost", sticky: "deployment" }
      ]
    },
    {
      name: "deployment id with capitals gets its suffix",
      input: { ...base, deploymentId: "d_AbC123xyz" },
      expected: [
        { hostname: "shop-production-acme.berth.localhost", sticky: "environment" },
        { hostname: "shop-acme.berth.localhost", sticky: "live" },
        {
          hostname: `shop-d-abc123xyz-${stableHash("d_AbC123xyz").slice(-4)}-acme.berth.localhost`,
          sticky: "deployment"
        }
      ]
    },
    {
      name: "a label over 63 characters is fitted",
      input: { ...base, projectSlug: longProject, branch: `${"feature/".repeat(4)}login` },
      expected: [
        {
          hostname: `${longBranchLabel.slice(0, 55).replace(/-+$/, "")}-${stableHash(longBranchLabel)}.berth.localhost`,
          sticky: "branch"
        },
        { hostname: `${longProject}-production-acme.berth.localhost`, sticky: "environment" },
        { hostname: `${longProject}-acme.berth.localhost`, sticky: "live" },
        { hostname: `${longProject}-dep-1-acme.berth.localhost`, sticky: "deployment" }
      ]
    }
  ]

  it.each(cases)("$name", ({ input, expected }) => {
    expect(buildDomains(input)).toStrictEqual(expected)
  })

  it("every label of every hostname is at most 63 characters", () => {
    const hostnames = buildDomains({
      ...base,
      workspaceSlug: "w".repeat(63),
      projectSlug: "p".repeat(63),
      environmentSlug: "e".repeat(63),
      gitSha: "abcdef0",
      branch: "b".repeat(200),
      deploymentId: `D${"x".repeat(127)}`
    }).map((domain) => domain.hostname)
    expect(hostnames).toHaveLength(5)
    for (const hostname of hostnames) {
      const [label] = hostname.split(".")
      expect(label?.length, hostname).toBeLessThanOrEqual(63)
      expect(label?.endsWith("-"), hostname).toBe(false)
    }
  })
})
