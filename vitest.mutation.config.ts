import { defineConfig } from "vitest/config"

// The unit tests alone, for mutation testing (stryker.config.mjs): no servers, no global setup.
// Same environment as the unit project of vitest.config.ts.
export default defineConfig({
  test: {
    include: ["test/domain/**/*.unit.test.ts"],
    env: { BERTH_APEX_DOMAINS: "berth.localhost,localhost,berth.test,example.com" }
  }
})
