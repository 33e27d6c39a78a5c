#!/usr/bin/env node
// postinstall: guards postgres.js 3.4.x against a known crash (porsager/postgres#1066, #1154; fix
// proposed in PR #1168). A small write is flushed from setImmediate; when the connection closed in
// between (PostgreSQL stopped), `socket` is null and `socket.write` throws outside any promise,
// killing the whole process. The guard fails the queries those bytes belonged to instead (as a closed
// connection does), so their promises reject rather than hang or crash. Idempotent; a version without
// the line is left alone (and said so).
import { existsSync, readFileSync, writeFileSync } from "node:fs"

const unguarded = "    const x = socket.write(chunk, fn)"
const marker = "berth: postgres#1154"
const guarded =
  "    if (socket === null) { nextWriteTimer !== null && clearImmediate(nextWriteTimer); chunk = nextWriteTimer = null; " +
  `error(Errors.connection('CONNECTION_CLOSED', options, null)); return false } // ${marker} v2\n` + unguarded
const files = ["src/connection.js", "cjs/src/connection.js", "cf/src/connection.js"].map((f) => new URL(`../node_modules/postgres/${f}`, import.meta.url))

let patched = 0
for (const file of files) {
  if (!existsSync(file)) continue
  const source = readFileSync(file, "utf8")
  if (source.includes(`${marker} v2`)) continue
  const pristine = source.split("\n").filter((line) => !line.includes(marker)).join("\n")
  if (!pristine.includes(unguarded)) {
    console.warn(`patch-postgres: ${file.pathname} has changed; the null-socket guard was not applied (check whether postgres.js fixed #1154)`)
    continue
  }
  writeFileSync(file, pristine.replace(unguarded, guarded))
  patched++
}
if (patched > 0) console.log(`patch-postgres: guarded nextWrite in ${patched} file(s)`)
