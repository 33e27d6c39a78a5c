/**
 * The local tools send a command's relative file paths as absolute ones (instances run in their own
 * directory), and leave everything else exactly as typed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { absoluteLocalPaths } from "../../src/shared/localPaths.js"

const here = mkdtempSync(join(tmpdir(), "berth-paths-"))
mkdirSync(join(here, "examples/hello"), { recursive: true })
writeFileSync(join(here, "examples/hello/server.js"), "")
writeFileSync(join(here, "run.sh"), "")
afterAll(() => rmSync(here, { recursive: true, force: true }))

describe("absoluteLocalPaths", () => {
  it.each([
    ["a relative script", ["node", "examples/hello/server.js"], ["node", `${here}/examples/hello/server.js`]],
    ["./ and a program path", ["./run.sh", "--port", "1"], [`${here}/run.sh`, "--port", "1"]],
    ["a bare program name that is also a file here", ["run.sh"], ["run.sh"]],
    ["an argument naming no file", ["node", "server.js", "--flag"], ["node", "server.js", "--flag"]],
    ["a directory", ["ls", "examples"], ["ls", "examples"]],
    ["options and absolute paths", ["node", "--inspect", "/srv/app.js"], ["node", "--inspect", "/srv/app.js"]]
  ])("%s", (_, typed, sent) => {
    expect(absoluteLocalPaths(typed, here).command).toEqual(sent)
  })

  it("reports what it rewrote", () => {
    expect(absoluteLocalPaths(["node", "examples/hello/server.js"], here).resolved).toEqual([
      ["examples/hello/server.js", `${here}/examples/hello/server.js`]
    ])
  })
})
