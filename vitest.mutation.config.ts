import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"

/**
 * Quick, broad files first: Stryker stops a mutant's run at its first failing test (bail), so a mutant
 * of module-level code (a Schema), which runs every file, is usually killed within the first ones.
 */
const quickFirst = [
  "events",
  "ids",
  "commands",
  "timeline",
  "secrets",
  "domains",
  "createProject",
  "deploy",
  "fold",
  "decideEffects",
  "cancel",
  "lifecycle",
  "steps",
  "switches",
  "rolledBack",
  "retiredRoutes",
  "tenants",
  "retirement",
  "limits"
]
const rank = (spec: TestSpecification): number => {
  const index = quickFirst.findIndex((name) => spec.moduleId.endsWith(`/${name}.unit.test.ts`))
  return index === -1 ? quickFirst.length : index
}
class QuickFirst extends BaseSequencer {
  override sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    return Promise.resolve([...files].sort((a, b) => rank(a) - rank(b)))
  }
}

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
    // On a loaded machine the instrumented code is slow; Stryker times out a looping mutant itself.
    testTimeout: 60_000,
    setupFiles: ["test/support/mutationSetup.ts"],
    sequence: { sequencer: QuickFirst }
  }
})
