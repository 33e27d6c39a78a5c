/**
 * The environment krane-local is started with: the caller's, minus every credential and address of the
 * control plane. krane-local never needs them, and whatever it holds an app could one day reach (a bug in
 * its instance spawning, /proc of a process running as the same user). Its own KRANE_LOCAL_* settings stay.
 */
const controlPlaneNames = /^(BERTH_|NATS_|PG)|^(DATABASE_URL|KRANE_URL|KRANE_TOKEN)$/

export const kraneLocalEnv = (
  env: Readonly<Record<string, string | undefined>>
): Record<string, string> =>
  Object.fromEntries(
    Object.entries(env).flatMap(([name, value]) =>
      value === undefined || controlPlaneNames.test(name) ? [] : [[name, value] as const]
    )
  )
