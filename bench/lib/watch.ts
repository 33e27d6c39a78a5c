/**
 * Watches `berth.evt.>` with a core subscription and timestamps arrivals: how the bench sees a
 * deployment go live (LiveSwitched) and counts appended envelopes, without touching JetStream.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node"
import type { EventEnvelope } from "../../src/domain/events.js"
import { projectIdOfSubject, subjects } from "../../src/nats/subjects.js"
import { now } from "./stats.js"

export interface EventWatch {
  /** Envelopes seen so far (one per decision). */
  readonly envelopes: () => number
  /** Events seen so far (an envelope holds one or more). */
  readonly events: () => number
  /** Arrival time (performance.now) of the LiveSwitched to each deployment. */
  readonly live: ReadonlyMap<string, number>
  /** Arrival time of each project's ProjectCreated. */
  readonly created: ReadonlyMap<string, number>
  /** From now on, every envelope of `projectId` with its arrival time and event types (the list fills as they come). */
  readonly envelopesOf: (projectId: string) => ReadonlyArray<{ readonly at: number; readonly types: ReadonlyArray<string> }>
  /** Resolves when the LiveSwitched to `deploymentId` has arrived. */
  readonly waitLive: (deploymentId: string, timeoutMs?: number) => Promise<number>
  readonly stop: () => void
}

export const watchEvents = (nc: NatsConnection): EventWatch => {
  let envelopes = 0
  let events = 0
  const live = new Map<string, number>()
  const created = new Map<string, number>()
  const waiters = new Map<string, (at: number) => void>()
  const followed = new Map<string, Array<{ readonly at: number; readonly types: ReadonlyArray<string> }>>()
  const decoder = new TextDecoder()
  const sub: Subscription = nc.subscribe(subjects.eventsAll, {
    callback: (_error, msg) => {
      const at = now()
      envelopes++
      const text = decoder.decode(msg.data)
      const arrivals = followed.size === 0 ? undefined : followed.get(projectIdOfSubject(msg.subject))
      if (arrivals !== undefined) arrivals.push({ at, types: (JSON.parse(text) as EventEnvelope).events.map((event) => event.type) })
      const interesting = text.includes("\"LiveSwitched\"") || text.includes("\"ProjectCreated\"")
      if (!interesting) {
        // Count events without parsing the whole envelope: one `"type":` per event (payloads hold no other).
        events += countTypes(text)
        return
      }
      const envelope = JSON.parse(text) as EventEnvelope
      events += envelope.events.length
      for (const event of envelope.events) {
        if (event.type === "LiveSwitched") {
          live.set(event.to, at)
          const waiter = waiters.get(event.to)
          if (waiter !== undefined) {
            waiters.delete(event.to)
            waiter(at)
          }
        } else if (event.type === "ProjectCreated") {
          created.set(event.projectId, at)
        }
      }
    }
  })
  const waitLive = (deploymentId: string, timeoutMs = 30_000) =>
    new Promise<number>((resolve, reject) => {
      const seen = live.get(deploymentId)
      if (seen !== undefined) return resolve(seen)
      const timer = setTimeout(() => {
        waiters.delete(deploymentId)
        reject(new Error(`no LiveSwitched to ${deploymentId} within ${timeoutMs} ms`))
      }, timeoutMs)
      waiters.set(deploymentId, (at) => {
        clearTimeout(timer)
        resolve(at)
      })
    })
  return {
    envelopes: () => envelopes,
    events: () => events,
    live,
    created,
    waitLive,
    envelopesOf: (projectId) => {
      const arrivals: Array<{ readonly at: number; readonly types: ReadonlyArray<string> }> = []
      followed.set(projectId, arrivals)
      return arrivals
    },
    stop: () => sub.unsubscribe()
  }
}

const countTypes = (text: string): number => {
  let count = 0
  let from = 0
  for (;;) {
    const i = text.indexOf("\"type\":", from)
    if (i < 0) return count
    count++
    from = i + 7
  }
}
