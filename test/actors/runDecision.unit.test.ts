/**
 * The actor's interpreter of a Decision: runs each effect the decision asks for, in order, feeds its
 * outcome to the decision, and stops at what to record. It knows no use case: these decisions are
 * made up, not the decider's.
 */
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { record, refuse, type Decision } from "../../src/domain/decision.js"
import type { RouteTable } from "../../src/domain/routes.js"
import { runDecision } from "../../src/actors/runDecision.js"

const table = (projectId: string): RouteTable => ({ projectId, routes: {}, upstreams: {} })
const ready = (deploymentId: string) => ({ type: "DeploymentReady", deploymentId }) as const

/** Effects that log what they were asked, answering as told. */
const effects = (answers: { readonly written: Either.Either<number, string>; readonly taken: ReadonlyArray<string> }) => {
  const calls: Array<string> = []
  return {
    calls,
    effects: {
      writeRoutes: (t: RouteTable) => Effect.sync(() => (calls.push(`write ${t.projectId}`), answers.written)),
      claim: (hostnames: ReadonlyArray<string>) => Effect.sync(() => (calls.push(`claim ${hostnames.join(",")}`), answers.taken))
    }
  }
}

const claimThenWrite: Decision = {
  _tag: "ClaimHostnames",
  hostnames: ["a.test", "b.test"],
  then: (taken) =>
    taken.length > 0
      ? refuse("cmd_1", "Deploy", { code: "hostname_taken", message: `taken: ${taken.join(", ")}` })
      : {
          _tag: "WriteRoutes",
          table: table("proj_1"),
          then: (written) => (Either.isRight(written) ? record([ready(`rev_${written.right}`)]) : record([]))
        }
}

describe("runDecision", () => {
  it.each([
    {
      name: "a plain decision runs no effect",
      decision: record([ready("dep_1")]),
      answers: { written: Either.right(1), taken: [] },
      calls: [],
      recorded: { events: [ready("dep_1")], rejection: undefined }
    },
    {
      name: "effects run in order, each outcome deciding the next",
      decision: claimThenWrite,
      answers: { written: Either.right(7), taken: [] },
      calls: ["claim a.test,b.test", "write proj_1"],
      recorded: { events: [ready("rev_7")], rejection: undefined }
    },
    {
      name: "an outcome that refuses stops there: no later effect runs",
      decision: claimThenWrite,
      answers: { written: Either.right(7), taken: ["b.test"] },
      calls: ["claim a.test,b.test"],
      recorded: {
        events: [{ type: "CommandRejected", commandId: "cmd_1", commandType: "Deploy", code: "hostname_taken", message: "taken: b.test" }],
        rejection: { code: "hostname_taken", message: "taken: b.test" }
      }
    },
    {
      name: "a failed write is handed to the decision, which says what to record",
      decision: claimThenWrite,
      answers: { written: Either.left("KV unreachable"), taken: [] },
      calls: ["claim a.test,b.test", "write proj_1"],
      recorded: { events: [], rejection: undefined }
    }
  ])("$name", async ({ decision, answers, calls, recorded }) => {
    const run = effects(answers)
    expect(await Effect.runPromise(runDecision(decision, run.effects))).toStrictEqual(recorded)
    expect(run.calls).toStrictEqual(calls)
  })
})
