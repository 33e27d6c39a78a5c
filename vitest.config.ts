import { defineConfig } from "vitest/config"

// The apex domains tests use (BERTH_APEX_DOMAINS is a required setting of the orchestrator and API;
// test/support/orchestrator.ts's fastSettings holds the same list).
const env = { BERTH_APEX_DOMAINS: "berth.localhost,localhost,berth.test,example.com" }

// Three kinds of test, each runnable alone: `vitest run --project unit|int|e2e`.
export default defineConfig({
  test: {
    // Integration and end-to-end files mostly wait (on servers, processes, polls): three at a time keep
    // two cores busy. Each file starts its own servers on free ports, so they never share state.
    maxWorkers: 3,
    minWorkers: 1,
    projects: [
      { test: { name: "unit", include: ["test/**/*.unit.test.ts"], env } },
      {
        test: {
          name: "int",
          env,
          include: ["test/**/*.int.test.ts"],
          globalSetup: ["test/support/globalSetup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000
        }
      },
      {
        test: {
          name: "e2e",
          env,
          include: ["test/**/*.e2e.test.ts"],
          globalSetup: ["test/support/globalSetup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000
        }
      }
    ]
  }
})
