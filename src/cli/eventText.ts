/**
 * Audit events as one human line each: `#seq  time  Type  key fields  [commandId]`. Payloads are
 * read tolerantly (an Undecodable or future event still prints its fields), never trusted to match.
 */
import type { AuditEventWire } from "./apiClient.js"
import { displayPayload } from "../domain/secrets.js"
import { bytes, date, time } from "./format.js"

type Payload = Readonly<Record<string, unknown>>

export const asPayload = (value: unknown): Payload =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? Object.fromEntries(Object.entries(value)) : {}

const text = (value: unknown): string =>
  value === null || value === undefined ? "-" : typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(value)

const quoted = (value: unknown): string => JSON.stringify(text(value))

const list = (value: unknown): ReadonlyArray<unknown> => (Array.isArray(value) ? value : [])

/** `host (sticky), host (sticky)` */
const domains = (value: unknown): string =>
  list(value).map((d) => `${text(asPayload(d)["hostname"])} (${text(asPayload(d)["sticky"])})`).join(", ") || "none"

const source = (value: unknown): string => {
  const s = asPayload(value)
  if (typeof s["image"] === "string") return `image ${s["image"]}`
  const command = list(s["command"]).map(text)
  return command.length > 0 ? `command ${JSON.stringify(command.join(" "))}` : "no source"
}

const git = (value: unknown): string => {
  if (value === undefined || value === null) return ""
  const g = asPayload(value)
  return ` git ${text(g["sha"]).slice(0, 12)}${typeof g["branch"] === "string" ? `@${g["branch"]}` : ""}`
}

/** ` env KEY=sealed(fp) …` (values already in display form), or nothing for an empty env. */
const envText = (value: unknown): string => {
  const entries = Object.entries(asPayload(value))
  return entries.length === 0 ? "" : ` env ${entries.map(([key, shown]) => `${key}=${text(shown)}`).join(" ")}`
}

const instanceCounts = (value: unknown): string => {
  const counts = new Map<string, number>()
  for (const instance of list(value)) {
    const status = text(asPayload(instance)["status"])
    counts.set(status, (counts.get(status) ?? 0) + 1)
  }
  return [...counts].map(([status, n]) => `${n} ${status}`).join(", ") || "none"
}

const others = (payload: Payload): string =>
  Object.entries(payload)
    .filter(([key]) => key !== "type")
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ")

/** The key fields of an event, by type. */
export const describeEvent = (type: string, rawPayload: unknown): string => {
  // Env values as keys and fingerprints only, whatever the server sent.
  const p = asPayload(displayPayload(rawPayload))
  const dep = text(p["deploymentId"])
  switch (type) {
    case "ProjectCreated": {
      const environments = list(p["environments"]).map((e) => `${text(asPayload(e)["id"])} (${text(asPayload(e)["kind"])})`).join(", ")
      return `${text(p["projectId"])} ${text(p["workspace"])}/${text(p["slug"])} apex ${text(p["apexDomain"])} branch ${text(p["defaultBranch"])} environments ${environments}`
    }
    case "DeploymentRequested":
      return `${dep} to ${text(p["environmentId"])}: ${source(p["source"])}${git(p["git"])} replicas ${text(p["replicas"])} port ${text(p["port"])}${envText(p["env"])}`
    case "DeploymentBuilding":
    case "DeploymentReady":
    case "RollbackCleared":
      return dep
    case "KraneDeploymentCreated":
      return `${dep} namespace ${text(p["namespace"])} ready by ${typeof p["readyDeadlineAt"] === "number" ? time(new Date(p["readyDeadlineAt"])) : "-"}`
    case "InstancesObserved":
      return `${dep} instances: ${instanceCounts(p["instances"])}`
    case "OpenApiSpecCaptured":
      return `${dep} ${text(p["path"])} ${typeof p["sizeBytes"] === "number" ? bytes(p["sizeBytes"]) : "-"}`
    case "OpenApiSpecNotFound":
      return `${dep} ${text(p["path"])}: ${text(p["reason"])}`
    case "DomainsAssigned": {
      const withheld = list(p["withheld"])
      return `${dep} ${domains(p["domains"])}${withheld.length > 0 ? `; withheld ${domains(withheld)}` : ""}`
    }
    case "LiveSwitched":
      return `${p["from"] === null ? "(none)" : text(p["from"])} -> ${text(p["to"])} (${text(p["reason"])})`
    case "DomainsSwitched":
      return `-> ${text(p["toDeploymentId"])} (${text(p["reason"])}): ${domains(p["domains"])}`
    case "DeploymentFailed":
      return `${dep} at ${text(p["step"])}: ${text(p["reason"])}`
    case "DeploymentCancelled":
      return `${dep} at ${text(p["step"])}`
    case "DeploymentCompensated": {
      const released = list(p["releasedDomains"]).map(text)
      const problem = p["problem"] === undefined ? "" : `; problem: ${text(p["problem"])}`
      return `${dep} krane ${p["kraneDeleted"] === true ? "deleted" : "NOT deleted"}, released ${released.length > 0 ? released.join(", ") : "no hostnames"}${problem}`
    }
    case "CommandRejected":
      return `${text(p["commandType"])} ${text(p["code"])}: ${quoted(p["message"])}`
    default:
      return others(p)
  }
}

/** `#12    2026-01-01 12:00:06  LiveSwitched            (none) -> dep_1 (deploy)  [cmd_1 by tok_…]` (who sent it, when known) */
export const eventLine = (event: AuditEventWire): string =>
  [
    `#${event.streamSeq}`.padEnd(6),
    time(date(event.at)),
    event.type.padEnd(22),
    describeEvent(event.type, event.payload) +
    (event.commandId === null ? "" : `  [${event.commandId}${event.actor === null || event.actor === undefined ? "" : ` by ${event.actor}`}]`)
  ].join("  ")
