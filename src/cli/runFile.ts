/**
 * How CLI commands find a running Berth: NATS_URL / DATABASE_URL, else the URLs `npm start` wrote to
 * <BERTH_DATA_DIR>/run.json.
 */
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"

export interface RunInfo {
  readonly natsUrl: string
  readonly databaseUrl: string
}

export const runFilePath = (): string => resolve(process.env["BERTH_DATA_DIR"] ?? ".berth", "run.json")

const readRunFile = (): Partial<Record<string, unknown>> => {
  const file = runFilePath()
  if (!existsSync(file)) return {}
  const parsed: unknown = JSON.parse(readFileSync(file, "utf8"))
  return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {}
}

/** The URL from the environment or the run file; undefined when neither has it. */
export const findUrl = (variable: "NATS_URL" | "DATABASE_URL"): string | undefined => {
  const fromEnv = process.env[variable]
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv
  const value = readRunFile()[variable === "NATS_URL" ? "natsUrl" : "databaseUrl"]
  return typeof value === "string" ? value : undefined
}
