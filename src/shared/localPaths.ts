/**
 * krane-local runs each instance in a directory of its own (under Berth's data dir), so a command
 * argument that is a path relative to where the user typed it (`node examples/hello/server.js`) would
 * name nothing there. The local tools (`berth deploy`, `npm run send`) turn such arguments into
 * absolute paths, and only those that name an existing file here: anything else is sent as typed.
 * krane-local does the same once for deployments recorded by releases that ran every instance in
 * krane-local's own working directory.
 */
import { statSync } from "node:fs"
import { isAbsolute, resolve } from "node:path"

const isFileHere = (arg: string, cwd: string): boolean => {
  try {
    return statSync(resolve(cwd, arg)).isFile()
  } catch {
    return false
  }
}

export interface LocalPaths {
  readonly command: ReadonlyArray<string>
  /** The arguments rewritten, as [typed, absolute], to tell the user. */
  readonly resolved: ReadonlyArray<readonly [string, string]>
}

/** The command with each relative argument that names an existing file under `cwd` made absolute. */
export const absoluteLocalPaths = (command: ReadonlyArray<string>, cwd: string = process.cwd()): LocalPaths => {
  const resolved: Array<readonly [string, string]> = []
  const rewritten = command.map((arg, at) => {
    // A bare program name (`node`) is looked up on PATH, never here; options are not paths.
    const candidate = arg !== "" && !isAbsolute(arg) && !arg.startsWith("-") && (at > 0 || arg.includes("/"))
    if (!candidate || !isFileHere(arg, cwd)) return arg
    const absolute = resolve(cwd, arg)
    resolved.push([arg, absolute])
    return absolute
  })
  return { command: rewritten, resolved }
}
