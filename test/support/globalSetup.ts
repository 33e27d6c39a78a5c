/**
 * Vitest globalSetup: one throwaway PostgreSQL (fast mode) for the whole run, its admin URL
 * provided as `pgAdminUrl` (tests get empty databases from it via freshDatabase()).
 */
import type { TestProject } from "vitest/node"
import { startTestPostgres } from "./servers.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** postgres://postgres@127.0.0.1:<port>/postgres on the run-wide test server. */
    pgAdminUrl: string
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pg = await startTestPostgres()
  project.provide("pgAdminUrl", pg.adminUrl)
  return () => pg.stop()
}
