/**
 * For mutation runs only (vitest.mutation.config.ts, after Stryker's own setup file). The domain's
 * test files there share one long-lived worker thread (`isolate: false`), so Stryker's global state
 * outlives a run: a mutant activated at module load by the previous run would still be active while
 * this run loads Berth's modules. Unless this run activates its own mutant at load (a static
 * mutant), forget it: Stryker activates this run's mutant in a beforeAll, after the modules loaded.
 */
import { inject } from "vitest"

// Stryker's keys are not in vitest's ProvidedContext type.
const provided = inject as unknown as (key: string) => unknown

if (provided("mode") === "mutant" && provided("mutantActivation") !== "static") {
  const namespace = provided("globalNamespace")
  const state = typeof namespace === "string" ? (globalThis as Record<string, unknown>)[namespace] : undefined
  if (typeof state === "object" && state !== null) (state as { activeMutant?: unknown }).activeMutant = undefined
}
