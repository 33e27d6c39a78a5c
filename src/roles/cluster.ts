/**
 * `npm run cluster` / `berth up --cluster N`: Berth as it runs on several machines, on this one: N
 * nats-servers in one JetStream cluster (src/local/NatsCluster.ts), N orchestrator processes and one
 * of every other role, so a person can kill a node or an orchestrator and watch deployments go on.
 * Its data lives apart from `npm start`'s (another event log: the read model must not mix the two).
 * Pure: no I/O.
 */
import { Either, Option } from "effect"

/** The data dir of `npm run cluster` when BERTH_DATA_DIR is not given. */
export const clusterDataDir = ".berth-cluster"

/** The smallest cluster that survives losing a node (a majority of 3 is 2), and a sane ceiling. */
export const clusterSizes = { min: 3, max: 7 } as const

/** `--cluster 3` / `--cluster=3` on the command line: none, the size, or what is wrong with it. */
export const clusterFromArgs = (argv: ReadonlyArray<string>): Either.Either<Option.Option<number>, string> => {
  const at = argv.findIndex((arg) => arg === "--cluster" || arg.startsWith("--cluster="))
  if (at < 0) return Either.right(Option.none())
  const arg = argv[at] ?? ""
  const text = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[at + 1] ?? ""
  const size = Number(text)
  return Number.isInteger(size) && size >= clusterSizes.min && size <= clusterSizes.max
    ? Either.right(Option.some(size))
    : Either.left(`--cluster takes the number of NATS nodes and orchestrators, ${clusterSizes.min} to ${clusterSizes.max}; got "${text}"`)
}

/** The supervised process names of `count` processes of one role: `orchestrator`, or `orchestrator-1` … `-N`. */
export const instanceNames = <R extends string>(role: R, count: number): ReadonlyArray<R | `${R}-${number}`> =>
  count <= 1 ? [role] : Array.from({ length: count }, (_, i) => `${role}-${i + 1}` as const)
