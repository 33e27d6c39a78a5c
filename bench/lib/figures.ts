/**
 * The result protocol between a workload child and bench/run.ts: each child prints exactly one line
 * `@@BENCH {"workload":...,"figures":[...]}` on stdout; everything else it prints is ignored.
 */
export type Direction = "higher" | "lower"

export interface Figure {
  readonly workload: string
  readonly figure: string
  readonly unit: string
  readonly berth: number
  /** The raw limit measured in the same run, in the same unit; null when the figure has none. */
  readonly raw: number | null
  readonly rawLabel: string | null
  /** berth / raw; null without a raw figure. */
  readonly ratio: number | null
  /** E.g. ">= 0.5" (ratio at least) or "<= 3" (ratio at most). */
  readonly target: string | null
  readonly pass: boolean | null
}

export interface WorkloadResult {
  readonly workload: string
  readonly params: Readonly<Record<string, number | string | boolean>>
  readonly figures: ReadonlyArray<Figure>
  readonly notes: ReadonlyArray<string>
  readonly elapsedMs: number
}

export const resultMarker = "@@BENCH "

const checkTarget = (ratio: number | null, target: string | null): boolean | null => {
  if (ratio === null || target === null) return null
  const m = /^(>=|<=)\s*([0-9.]+)$/.exec(target.trim())
  if (m === null) return null
  const bound = Number(m[2])
  return m[1] === ">=" ? ratio >= bound : ratio <= bound
}

export const figure = (
  workload: string,
  name: string,
  unit: string,
  berth: number,
  raw?: { readonly value: number; readonly label: string; readonly target?: string }
): Figure => {
  const ratio = raw === undefined || raw.value === 0 ? null : berth / raw.value
  const target = raw?.target ?? null
  return {
    workload,
    figure: name,
    unit,
    berth,
    raw: raw?.value ?? null,
    rawLabel: raw?.label ?? null,
    ratio,
    target,
    pass: checkTarget(ratio, target)
  }
}

export const emit = (result: WorkloadResult): void => {
  process.stdout.write(`${resultMarker}${JSON.stringify(result)}\n`)
}
