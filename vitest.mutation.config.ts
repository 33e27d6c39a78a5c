import { defineConfig } from "vitest/config"

// The unit tests alone, for mutation testing (stryker.config.mjs): no servers, no global setup.
// Same environment as the unit project of vitest.config.ts.
//
// `isolate: false`: every test file of a mutant's run shares one worker thread that lives across runs,
// so `effect` and the rest of node_modules are loaded once, not once per file and mutant (that was most
// of each mutant's time). Berth's own modules are still loaded afresh for every run (vitest gives each
// run a new module cache), so a mutant activated at module load still reaches every test; the setup
// file makes sure a previous run's mutant does not.
export default defineConfig({
  test: {
    include: ["test/domain/**/*.unit.test.ts"],
    env: { BERTH_APEX_DOMAINS: "berth.localhost,localhost,berth.test,example.com" },
    isolate: false,
    setupFiles: ["test/support/mutationSetup.ts"]
  }
})
