/**
 * The projector's row cache: the rows of each read-model table one projector session knows, changed in
 * place by the fold (fold.ts), with what changed since the last flush (written by writes.ts). Knows
 * nothing about events or SQL.
 */
import type { DeploymentRow, DomainRow, EnvironmentRow, InstanceRow, LiveHistoryRow, ProjectRow, SpecRow, StepRow } from "./rows.js"

/** What a batch writes to one table; each row appears in at most one of the three. */
export interface Changes<R> {
  readonly inserts: Array<R>
  readonly updates: Array<R>
  readonly deletes: Array<R>
}

/** One key of a table. */
interface Entry<R> {
  /** The row as the fold left it; undefined when absent or deleted. */
  row: R | undefined
  /** The row last written or read, undefined when PostgreSQL has none (once written batches commit). */
  stored: R | undefined
  /** Put or deleted since the last flush. */
  changed: boolean
}

/**
 * The rows of one table as the state knows them, by key within a group: a deployment's steps or
 * instances are one group; a table without groups uses the key as group and "" as key. Rows are
 * changed in place; `put` marks them for the next flush.
 */
export class Table<R> {
  private readonly groups = new Map<string, Map<string, Entry<R>>>()
  private changed: Array<Entry<R>> = []

  constructor(private readonly groupOf: (row: R) => string, private readonly keyOf: (row: R) => string = () => "") {}

  private entry(group: string, key: string): Entry<R> {
    let entries = this.groups.get(group)
    if (entries === undefined) {
      entries = new Map()
      this.groups.set(group, entries)
    }
    let entry = entries.get(key)
    if (entry === undefined) {
      entry = { row: undefined, stored: undefined, changed: false }
      entries.set(key, entry)
    }
    return entry
  }

  load(rows: Iterable<R>): void {
    for (const row of rows) {
      const entry = this.entry(this.groupOf(row), this.keyOf(row))
      entry.row = row
      entry.stored = row
    }
  }

  get(group: string, key = ""): R | undefined {
    return this.groups.get(group)?.get(key)?.row
  }

  /** Inserts or replaces a row; also call it after changing a row in place. */
  put(row: R): void {
    const entry = this.entry(this.groupOf(row), this.keyOf(row))
    entry.row = row
    if (entry.changed) return
    entry.changed = true
    this.changed.push(entry)
  }

  delete(group: string, key = ""): void {
    const entry = this.groups.get(group)?.get(key)
    if (entry?.row === undefined) return
    entry.row = undefined
    if (entry.changed) return
    entry.changed = true
    this.changed.push(entry)
  }

  /** The rows of a group (e.g. of one deployment's steps). */
  group(group: string): Array<R> {
    const out: Array<R> = []
    for (const entry of this.groups.get(group)?.values() ?? []) if (entry.row !== undefined) out.push(entry.row)
    return out
  }

  /** The changes since the last call; what is stored then follows them. */
  flush(): Changes<R> {
    const changes: Changes<R> = { inserts: [], updates: [], deletes: [] }
    for (const entry of this.changed) {
      entry.changed = false
      if (entry.row === undefined) {
        if (entry.stored !== undefined) changes.deletes.push(entry.stored)
      } else if (entry.stored === undefined) {
        changes.inserts.push(entry.row)
      } else {
        changes.updates.push(entry.row)
      }
      entry.stored = entry.row
    }
    this.changed = []
    return changes
  }

  /** Forgets a group's rows (read again when needed). */
  forget(group: string): void {
    this.groups.delete(group)
  }
}

/** Rows a batch only adds or overwrites, never read back from PostgreSQL: upserted, then dropped. */
export class Upserts<R> {
  private readonly rows = new Map<string, R>()

  constructor(private readonly keyOf: (row: R) => string) {}

  get(key: string): R | undefined {
    return this.rows.get(key)
  }

  put(row: R): void {
    this.rows.set(this.keyOf(row), row)
  }

  flush(): Array<R> {
    const rows = [...this.rows.values()]
    this.rows.clear()
    return rows
  }
}

/** A key of two texts (e.g. project and deployment). Text values never hold NUL (PostgreSQL rejects it): the pair is unambiguous. */
export const key2 = (a: string, b: string): string => `${a}\u0000${b}`

/** The rows of every read-model table the projector writes, as one session knows them. */
export class ReadModelRows {
  readonly projects = new Table<ProjectRow>((r) => r.project_id)
  readonly environments = new Upserts<EnvironmentRow>((r) => key2(r.project_id, r.environment_id))
  // Deployment ids are unique only within a project: every deployment-keyed row is keyed by both.
  readonly deployments = new Table<DeploymentRow>((r) => key2(r.project_id, r.deployment_id))
  readonly steps = new Table<StepRow>((r) => key2(r.project_id, r.deployment_id), (r) => r.step)
  readonly instances = new Table<InstanceRow>((r) => key2(r.project_id, r.deployment_id), (r) => r.instance_id)
  readonly domains = new Table<DomainRow>((r) => r.hostname)
  readonly specs = new Upserts<SpecRow>((r) => key2(r.project_id, r.deployment_id))
  readonly liveHistory = new Upserts<LiveHistoryRow>((r) => key2(r.project_id, String(r.stream_seq)))
}
