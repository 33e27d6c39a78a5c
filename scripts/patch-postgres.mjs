#!/usr/bin/env node
// postinstall: two guards for postgres.js 3.4.x against a PostgreSQL that goes away under load.
//  1. nextWrite (porsager/postgres#1066, #1154; fix proposed in PR #1168): a small write is flushed from
//     setImmediate; when the connection closed in between, `socket` is null and `socket.write` throws
//     outside any promise, killing the whole process. The guard fails the queries those bytes belonged
//     to instead, as a closed connection does.
//  2. reserve().release(): releasing a reserved connection that closed meanwhile put it back among the
//     open ones, where every later query failed with CONNECTION_CLOSED and the pool never reconnected
//     (found by Berth's chaos suite: the projector's reader wedged after a PostgreSQL crash). A closed
//     connection now stays closed and reconnects on demand, like any other.
// Idempotent; a version whose code differs is left alone, and said so.
import { existsSync, readFileSync, writeFileSync } from "node:fs"

const marker = "berth: postgres guard v3"
const patches = [
  {
    file: "connection.js",
    find: "    const x = socket.write(chunk, fn)",
    replace:
      "    if (socket === null) { nextWriteTimer !== null && clearImmediate(nextWriteTimer); chunk = nextWriteTimer = null; " +
      `error(Errors.connection('CONNECTION_CLOSED', options, null)); return false } // ${marker}\n` +
      "    const x = socket.write(chunk, fn)"
  },
  {
    file: "index.js",
    find: "      c.reserved = null\n      onopen(c)\n",
    replace: `      c.reserved = null\n      ;(c.queue === reserved || c.queue === full) && onopen(c) // ${marker}\n`
  }
]

const root = new URL("../node_modules/postgres/", import.meta.url)
let patched = 0
for (const variant of ["src/", "cjs/src/", "cf/src/"]) {
  for (const patch of patches) {
    const file = new URL(`${variant}${patch.file}`, root)
    if (!existsSync(file)) continue
    const source = readFileSync(file, "utf8")
    if (source.includes(marker)) continue
    // Earlier versions of guard 1 marked their line "berth: postgres#1154": drop it first.
    const pristine = source.split("\n").filter((line) => !line.includes("berth: postgres#1154")).join("\n")
    if (!pristine.includes(patch.find)) {
      console.warn(`patch-postgres: ${file.pathname} has changed; a guard was not applied (check whether postgres.js fixed it)`)
      continue
    }
    writeFileSync(file, pristine.replace(patch.find, patch.replace))
    patched++
  }
}
if (patched > 0) console.log(`patch-postgres: applied ${patched} guard(s)`)
