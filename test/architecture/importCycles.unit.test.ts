/**
 * No import cycles in src/ (type-only imports included: a cycle of types is still a knot a reader
 * has to untie). Imports are read from the source text; relative ".js" specifiers name ".ts" files.
 * A failure names one cycle, file by file.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { describe, expect, it } from "vitest"

const root = resolve(import.meta.dirname, "../../src")

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return name.endsWith(".ts") ? [path] : []
  })

const importPattern = /(?:^|\n)\s*(?:import|export)\b[^"'`;]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']/g

const importsOf = (file: string): Array<string> => {
  const text = readFileSync(file, "utf8")
  const found: Array<string> = []
  for (const match of text.matchAll(importPattern)) {
    const specifier = match[1] ?? match[2]
    if (specifier === undefined || !specifier.startsWith(".")) continue
    found.push(resolve(dirname(file), specifier.replace(/\.js$/, ".ts")))
  }
  return found
}

/** One cycle (as a list of files, the first repeated at the end), or undefined. */
export const findCycle = (graph: ReadonlyMap<string, ReadonlyArray<string>>): ReadonlyArray<string> | undefined => {
  const state = new Map<string, "open" | "done">()
  const stack: Array<string> = []
  const visit = (node: string): ReadonlyArray<string> | undefined => {
    state.set(node, "open")
    stack.push(node)
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue
      if (state.get(next) === "open") return [...stack.slice(stack.indexOf(next)), next]
      if (state.get(next) === undefined) {
        const cycle = visit(next)
        if (cycle !== undefined) return cycle
      }
    }
    stack.pop()
    state.set(node, "done")
    return undefined
  }
  for (const node of graph.keys()) {
    if (state.get(node) !== undefined) continue
    const cycle = visit(node)
    if (cycle !== undefined) return cycle
  }
  return undefined
}

describe("src/ imports", () => {
  it("form no cycle", () => {
    const graph = new Map(sourceFiles(root).map((file) => [file, importsOf(file)] as const))
    expect(graph.size).toBeGreaterThan(100)
    const cycle = findCycle(graph)
    expect(cycle?.map((file) => relative(root, file))).toBeUndefined()
  })

  it("a cycle is found when there is one", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]]
    ])
    expect(findCycle(graph)).toEqual(["a", "b", "c", "a"])
    expect(findCycle(new Map([["a", ["b"]], ["b", []]]))).toBeUndefined()
  })
})
