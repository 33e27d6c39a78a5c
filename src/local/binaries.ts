/**
 * Local host plumbing for the servers Berth starts itself: locating (and, as root on Debian,
 * installing) the nats-server and PostgreSQL binaries, plus free-port helpers.
 * scripts/ensure-deps.mjs mirrors the search below in plain JS; keep the two in step.
 */
import { spawn } from "node:child_process"
import { accessSync, constants, readdirSync, readFileSync, statSync } from "node:fs"
import { createServer } from "node:net"
import { delimiter, join } from "node:path"
import { Data, Effect } from "effect"

/** A binary is missing and could not be installed; `message` carries the install command. */
export class BinaryNotFound extends Data.TaggedError("BinaryNotFound")<{
  readonly name: string
  readonly pkg: string
  readonly message: string
}> {}

export interface PostgresBinaries {
  readonly binDir: string
  readonly initdb: string
  readonly pgCtl: string
  readonly postgres: string
}

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const pathDirs = (): ReadonlyArray<string> => (process.env["PATH"] ?? "").split(delimiter).filter((d) => d !== "")

const firstExecutable = (name: string, dirs: ReadonlyArray<string>): string | undefined =>
  dirs.map((d) => join(d, name)).find(isExecutable)

/** Synchronous search: PATH, then the usual system dirs. */
export const lookupNatsServer = (): string | undefined =>
  firstExecutable("nats-server", [...pathDirs(), "/usr/sbin", "/usr/bin", "/usr/local/bin"])

const pgBinDirs = (): ReadonlyArray<string> => {
  let versions: Array<string> = []
  try {
    versions = readdirSync("/usr/lib/postgresql").filter((v) => /^\d+(\.\d+)?$/.test(v))
  } catch {
    // no Debian-style PostgreSQL install
  }
  versions.sort((a, b) => Number(b) - Number(a))
  return versions.map((v) => `/usr/lib/postgresql/${v}/bin`)
}

/** Synchronous search: a dir on PATH holding all three, else the highest /usr/lib/postgresql/<v>/bin. */
export const lookupPostgres = (): PostgresBinaries | undefined => {
  const binDir = [...pathDirs(), ...pgBinDirs()].find((d) =>
    ["initdb", "pg_ctl", "postgres"].every((b) => isExecutable(join(d, b)))
  )
  return binDir === undefined
    ? undefined
    : { binDir, initdb: join(binDir, "initdb"), pgCtl: join(binDir, "pg_ctl"), postgres: join(binDir, "postgres") }
}

const canAutoInstall = (): boolean => process.getuid?.() === 0 && firstExecutable("apt-get", [...pathDirs(), "/usr/bin"]) !== undefined

const notFound = (name: string, pkg: string) =>
  new BinaryNotFound({ name, pkg, message: `${name} not found. Install it with: sudo apt-get install -y ${pkg}` })

const aptInstall = (name: string, pkg: string) =>
  Effect.gen(function*() {
    const cmd = `apt-get update && apt-get install -y ${pkg}`
    yield* Effect.log(`${name} not found; installing: ${cmd}`)
    const code = yield* Effect.async<number>((resume) => {
      const child = spawn("sh", ["-c", cmd], {
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
      })
      child.on("error", () => resume(Effect.succeed(-1)))
      child.on("exit", (c) => resume(Effect.succeed(c ?? -1)))
    })
    if (code !== 0) {
      yield* Effect.logError(`${cmd} exited with ${code}`)
      return yield* notFound(name, pkg)
    }
  })

const findOrInstall = <A>(name: string, pkg: string, lookup: () => A | undefined): Effect.Effect<A, BinaryNotFound> =>
  Effect.gen(function*() {
    const found = lookup()
    if (found !== undefined) return found
    if (!canAutoInstall()) return yield* notFound(name, pkg)
    yield* aptInstall(name, pkg)
    const installed = lookup()
    return installed === undefined ? yield* notFound(name, pkg) : installed
  })

/** Path of nats-server, installing it (root + apt-get) when missing. */
export const findNatsServer: Effect.Effect<string, BinaryNotFound> = findOrInstall(
  "nats-server",
  "nats-server",
  lookupNatsServer
)

/** PostgreSQL server binaries, installing them (root + apt-get) when missing. */
export const findPostgres: Effect.Effect<PostgresBinaries, BinaryNotFound> = findOrInstall(
  "PostgreSQL",
  "postgresql",
  lookupPostgres
)

/** A TCP port on 127.0.0.1 that was free a moment ago (listen on 0, read it, close). */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const srv = createServer()
  srv.unref()
  srv.on("error", (e) => resume(Effect.die(e)))
  srv.listen(0, "127.0.0.1", () => {
    const addr = srv.address()
    const port = typeof addr === "object" && addr !== null ? addr.port : 0
    srv.close(() => resume(port === 0 ? Effect.die(new Error("no port assigned")) : Effect.succeed(port)))
  })
})

/** True when nothing listens on 127.0.0.1:port (we can bind it ourselves). */
export const isPortFree = (port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const srv = createServer()
    srv.unref()
    srv.once("error", () => resume(Effect.succeed(false)))
    srv.listen(port, "127.0.0.1", () => srv.close(() => resume(Effect.succeed(true))))
  })

/** `preferred` when given and free, otherwise a fresh free port. */
export const choosePort = (preferred: number | undefined, what: string): Effect.Effect<number> =>
  Effect.gen(function*() {
    if (preferred === undefined) return yield* freePort
    if (yield* isPortFree(preferred)) return preferred
    const port = yield* freePort
    yield* Effect.logWarning(`${what}: port ${preferred} is in use; using ${port} instead`)
    return port
  })

/** Current size of a (log) file, 0 when absent: pass to tailFile to see only what came after. */
export const fileSize = (file: string): number => {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

/** The last `lines` lines of a log file written after byte `from` ("" when unreadable). */
export const tailFile = (file: string, from = 0, lines = 20): string => {
  try {
    return readFileSync(file).subarray(from).toString("utf8").trimEnd().split("\n").slice(-lines).join("\n")
  } catch {
    return ""
  }
}
