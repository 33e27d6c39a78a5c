/**
 * The supervisor with real child processes: a crashing child is restarted with growing delays, a
 * configuration error is not retried, a child that ignores SIGTERM is killed when the scope closes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Effect, Exit, Scope } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { type RestartPolicy, supervise, supervisionGroup } from "../../src/roles/Supervisor.js"
import { isAlive } from "../support/processes.js"

const dir = mkdtempSync(join(tmpdir(), "berth-supervisor-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const script = (name: string, source: string): string => {
  const file = join(dir, `${name}.mjs`)
  writeFileSync(file, source)
  return file
}

const fast: RestartPolicy = {
  initialDelay: Duration.millis(100),
  maxDelay: Duration.millis(400),
  resetAfter: Duration.seconds(60),
  stopGrace: Duration.millis(500)
}

const inScope = async <A>(body: (scope: Scope.CloseableScope) => Promise<A>): Promise<A> => {
  const scope = Effect.runSync(Scope.make())
  try {
    return await body(scope)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const start = (scope: Scope.Scope, args: ReadonlyArray<string>, extra: { readonly readyLine?: RegExp } = {}) =>
  Effect.runPromise(
    Effect.flatMap(supervisionGroup, (group) =>
      supervise({ name: "api", args, env: process.env, cwd: dir, ...extra }, group, fast)
    ).pipe(Scope.extend(scope))
  )

describe("the supervisor", () => {
  it("restarts a child that keeps crashing, with growing delays, and reports its first ready", async () => {
    const crashing = script("crashing", `process.send?.({ type: "ready", role: "api", url: "http://x" }); setTimeout(() => process.exit(3), 50)`)
    await inScope(async (scope) => {
      const child = await start(scope, [crashing])
      expect(await Effect.runPromise(child.ready)).toEqual({ type: "ready", role: "api", url: "http://x" })
      const started = Date.now()
      while (child.restarts() < 4 && Date.now() - started < 20_000) await new Promise((resolve) => setTimeout(resolve, 50))
      // 100 + 200 + 400 + 400 ms of backoff at least between the first run and the fourth restart.
      expect(child.restarts()).toBeGreaterThanOrEqual(4)
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000)
    })
  })

  it("does not restart a child that exits with a configuration error", async () => {
    const misconfigured = script("misconfigured", `console.error("configuration error: BERTH_X"); process.exit(78)`)
    await inScope(async (scope) => {
      const child = await start(scope, [misconfigured])
      const exit = await Effect.runPromiseExit(child.ready)
      expect(Exit.isFailure(exit)).toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(child.restarts()).toBe(0)
    })
  })

  it("is ready on a printed line, and kills a child that ignores SIGTERM when the scope closes", async () => {
    const stubborn = script("stubborn", `process.on("SIGTERM", () => {}); console.log("listening on 1234"); setInterval(() => {}, 1000)`)
    let pid: number | undefined
    await inScope(async (scope) => {
      const child = await start(scope, [stubborn], { readyLine: /listening on/ })
      await Effect.runPromise(child.ready)
      pid = child.pid()
      expect(pid !== undefined && isAlive(pid)).toBe(true)
    })
    expect(pid !== undefined && isAlive(pid)).toBe(false)
  })
})
