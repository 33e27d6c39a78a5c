import { Effect, Either, Schedule, TestClock, TestContext } from "effect"
import { describe, expect, it } from "vitest"
import { retryAfterFailure } from "../../src/shared/retry.js"

/** An effect that fails with the scripted errors in turn, then succeeds; counts its runs. */
const scripted = (failures: ReadonlyArray<string>) => {
  let runs = 0
  const effect = Effect.suspend(() => {
    const failure = failures[runs]
    runs++
    return failure === undefined ? Effect.succeed(`ok after ${runs}`) : Effect.fail(failure)
  })
  return { effect, runs: () => runs }
}

const run = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(Effect.either(effect))
      yield* TestClock.adjust("1 hour")
      return yield* fiber.await.pipe(Effect.flatten)
    }).pipe(Effect.provide(TestContext.TestContext))
  )

describe("retryAfterFailure runs exactly as Effect.retry would", () => {
  const schedule = Schedule.exponential("10 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
  const cases: ReadonlyArray<{ name: string; failures: ReadonlyArray<string>; retryWhile?: (e: string) => boolean }> = [
    { name: "first attempt succeeds", failures: [] },
    { name: "succeeds on the second attempt", failures: ["busy"] },
    { name: "succeeds on the last allowed attempt", failures: ["busy", "busy"] },
    { name: "gives up after 1 + 2 attempts", failures: ["busy", "busy", "busy", "busy"] },
    { name: "does not retry an error the predicate refuses", failures: ["fatal", "busy"], retryWhile: (e) => e === "busy" },
    { name: "stops at the first refused error", failures: ["busy", "fatal"], retryWhile: (e) => e === "busy" }
  ]
  for (const c of cases) {
    it(c.name, async () => {
      const ours = scripted(c.failures)
      const theirs = scripted(c.failures)
      const options = c.retryWhile === undefined ? { schedule } : { schedule, while: c.retryWhile }
      const a = await run(retryAfterFailure(ours.effect, options))
      const b = await run(Effect.retry(theirs.effect, options))
      expect(a).toEqual(b)
      expect(ours.runs()).toBe(theirs.runs())
    })
  }

  it("reports the last error when every attempt fails", async () => {
    const result = await run(retryAfterFailure(scripted(["a", "b", "c", "d"]).effect, { schedule }))
    expect(result).toEqual(Either.left("c"))
  })
})
