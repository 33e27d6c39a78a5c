#!/usr/bin/env node
// Pre-flight for `npm start` / `npm test`: makes sure the nats-server and PostgreSQL binaries
// Berth starts itself are present; as root with apt-get it installs missing ones, otherwise it
// prints the install command and exits 1. NATS_URL / DATABASE_URL set = that server is external,
// skip its check. Mirrors the search in src/local/binaries.ts; keep the two in step.
import { execSync } from "node:child_process"
import { accessSync, constants, readdirSync } from "node:fs"
import { delimiter, join } from "node:path"

const isExecutable = (file) => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

// The tests always start their own servers, whatever the environment points at.
const forTests = process.argv.includes("--for-tests")

const pathDirs = () => (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "")

const findNats = () =>
  [...pathDirs(), "/usr/sbin", "/usr/bin", "/usr/local/bin"].map((d) => join(d, "nats-server")).find(isExecutable)

const findPostgres = () => {
  let versions = []
  try {
    versions = readdirSync("/usr/lib/postgresql").filter((v) => /^\d+(\.\d+)?$/.test(v))
  } catch {
    // no Debian-style PostgreSQL install
  }
  versions.sort((a, b) => Number(b) - Number(a))
  const dirs = [...pathDirs(), ...versions.map((v) => `/usr/lib/postgresql/${v}/bin`)]
  return dirs.find((d) => ["initdb", "pg_ctl", "postgres"].every((b) => isExecutable(join(d, b))))
}

const needed = [
  { name: "nats-server", pkg: "nats-server", find: findNats, skip: !forTests && process.env.NATS_URL },
  { name: "PostgreSQL", pkg: "postgresql", find: findPostgres, skip: !forTests && process.env.DATABASE_URL }
].filter((dep) => !dep.skip && dep.find() === undefined)

if (needed.length > 0) {
  const canInstall = process.getuid?.() === 0 && [...pathDirs(), "/usr/bin"].some((d) => isExecutable(join(d, "apt-get")))
  if (!canInstall) {
    for (const dep of needed) console.error(`Missing ${dep.name}. Install it with: sudo apt-get install -y ${dep.pkg}`)
    process.exit(1)
  }
  const cmd = `apt-get update && apt-get install -y ${needed.map((d) => d.pkg).join(" ")}`
  console.log(`ensure-deps: missing ${needed.map((d) => d.name).join(", ")}; running: ${cmd}`)
  try {
    execSync(cmd, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } })
  } catch {
    console.error(`ensure-deps: ${cmd} failed`)
    process.exit(1)
  }
  const still = needed.filter((dep) => dep.find() === undefined)
  for (const dep of still) console.error(`Missing ${dep.name}. Install it with: sudo apt-get install -y ${dep.pkg}`)
  if (still.length > 0) process.exit(1)
  console.log("ensure-deps: installed")
}

// A fresh clone has no node_modules: install the locked dependencies so `npm start` / `npm test`
// are the only commands a new user needs.
const projectRoot = new URL("..", import.meta.url).pathname
if (!isExecutable(join(projectRoot, "node_modules", ".bin", "tsx"))) {
  console.log("ensure-deps: installing npm dependencies (npm ci)")
  try {
    execSync("npm ci --no-audit --no-fund", { stdio: "inherit", cwd: projectRoot })
  } catch {
    console.error("ensure-deps: npm ci failed")
    process.exit(1)
  }
}
