/** Small measurement helpers: clocks, percentiles, rates. */
import { performance } from "node:perf_hooks"

export const now = (): number => performance.now()

/** Nearest-rank percentile (p in 0..100) of the samples; NaN when there are none. */
export const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1] ?? Number.NaN
}

export const median = (samples: ReadonlyArray<number>): number => percentile(samples, 50)

/** Times `fn` `times` times (sequentially) and returns every duration in ms. */
export const timeEach = async (times: number, fn: (i: number) => Promise<unknown>): Promise<Array<number>> => {
  const out: Array<number> = []
  for (let i = 0; i < times; i++) {
    const start = now()
    await fn(i)
    out.push(now() - start)
  }
  return out
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until `check` holds (polled every `everyMs`), or throws after `timeoutMs`. */
export const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

export const mib = (bytes: number): number => bytes / (1024 * 1024)

export const round = (value: number, digits = 2): number => {
  if (!Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}
