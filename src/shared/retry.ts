/**
 * `Effect.retry` builds its schedule driver on every run, even when the first attempt succeeds: about
 * as costly as a JetStream publish in a deploy storm's profile. On hot paths, pay for it only after a
 * failure. The attempts and delays are exactly those of `Effect.retry(self, options)`: the first
 * failure is replayed into the retry loop instead of running `self` again.
 */
import { Effect, type Schedule } from "effect"

export const retryAfterFailure = <A, E, R, Out, R2>(
  self: Effect.Effect<A, E, R>,
  options: { readonly schedule: Schedule.Schedule<Out, NoInfer<E>, R2>; readonly while?: (error: NoInfer<E>) => boolean }
): Effect.Effect<A, E, R | R2> =>
  Effect.catchAll(self, (error) => {
    if (options.while !== undefined && !options.while(error)) return Effect.fail(error)
    let replayed = false
    const attempt = Effect.suspend(() => {
      if (replayed) return self
      replayed = true
      return Effect.fail(error)
    })
    return Effect.retry(attempt, options.while === undefined ? { schedule: options.schedule } : { schedule: options.schedule, while: options.while })
  })
