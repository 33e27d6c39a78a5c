/**
 * `npm run chaos [-- --seed N] [--rounds N | --round K] [--small] [--keep-going]`: the full chaos suite
 * (20 rounds by default, a random seed unless given, printed first). `--round K` runs round K of the
 * seed alone on a fresh cluster: what a failure report tells you to run. `--settle` bounds the wait for
 * quiescence after a round (default 120 s). Exit code 1 when an
 * invariant failed.
 */
import { randomInt } from "node:crypto"
import { formatReport, runChaos } from "./chaos.js"
import { ciStorm, fullStorm } from "./plan.js"

const usage = "usage: npm run chaos -- [--seed N] [--rounds N | --round K] [--small] [--keep-going] [--settle SECONDS]"

const parse = (argv: ReadonlyArray<string>) => {
  let seed: number | undefined
  let rounds = 20
  let round: number | undefined
  let small = false
  let keepGoing = false
  let settle = 120
  const number = (flag: string, value: string | undefined) => {
    const n = Number(value)
    if (value === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer\n${usage}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    switch (flag) {
      case "--seed":
        seed = number(flag, argv[++i])
        break
      case "--rounds":
        rounds = number(flag, argv[++i])
        break
      case "--round":
        round = number(flag, argv[++i])
        break
      case "--settle":
        settle = number(flag, argv[++i])
        break
      case "--small":
        small = true
        break
      case "--keep-going":
        keepGoing = true
        break
      default:
        throw new Error(`unknown argument ${flag}\n${usage}`)
    }
  }
  return { seed: seed ?? randomInt(1, 1_000_000), rounds, round, small, keepGoing, settle }
}

const main = async () => {
  const args = parse(process.argv.slice(2))
  const rounds = args.round !== undefined ? [args.round] : Array.from({ length: args.rounds }, (_, i) => i + 1)
  const sizeFlag = args.small ? " --small" : ""
  console.log(`chaos: seed ${args.seed}, rounds ${rounds.length === 1 ? rounds[0] : `1-${rounds.length}`}${args.small ? " (small storm)" : ""}`)
  const started = Date.now()
  const report = await runChaos({
    seed: args.seed,
    rounds,
    size: args.small ? ciStorm : fullStorm,
    keepGoing: args.keepGoing,
    quiesceTimeoutMs: args.settle * 1000,
    log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`)
  })
  console.log("")
  console.log(formatReport(report, (round) => `npm run chaos -- --seed ${args.seed} --round ${round}${sizeFlag}`))
  console.log(`\n${report.ok ? "all invariants held" : "INVARIANTS FAILED"} (${((Date.now() - started) / 1000).toFixed(0)} s)`)
  process.exitCode = report.ok ? 0 : 1
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e))
  process.exitCode = 2
})
