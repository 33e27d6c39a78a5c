/**
 * The Krane port: what Berth needs from the orchestrator that runs instances.
 * Shaped after Unkey's krane.v1.DeploymentService (spec 3.9). Adapters beside this file fulfil it:
 * ConnectKrane (Connect unary JSON over HTTP, for a real Krane or krane-local).
 * Tests fulfil it with a programmable fake (test/support/FakeKrane.ts).
 */
import { Context, Data, type Effect } from "effect"

export type InstanceStatus = "PENDING" | "RUNNING" | "TERMINATING" | "UNSPECIFIED"

export interface KraneInstance {
  readonly id: string
  /** host:port */
  readonly address: string
  readonly status: InstanceStatus
}

export interface KraneDeploymentSpec {
  readonly namespace: string
  readonly deploymentId: string
  /** Container image, when the source is an image. */
  readonly image?: string
  /** Command to run, when the source is a command (krane-local). */
  readonly command?: ReadonlyArray<string>
  readonly replicas: number
  readonly cpuMillicores: number
  readonly memorySizeMib: number
  readonly port?: number
  readonly env?: Readonly<Record<string, string>>
}

/** Krane could not be reached or answered with a server-side failure: worth retrying. */
export class KraneUnavailable extends Data.TaggedError("KraneUnavailable")<{
  readonly operation: string
  readonly message: string
}> {}

/** Krane refused the request itself (invalid argument, unsupported source): retrying will not help. */
export class KraneRejected extends Data.TaggedError("KraneRejected")<{
  readonly operation: string
  readonly code: string
  readonly message: string
}> {}

/** Krane does not know the deployment. */
export class KraneDeploymentNotFound extends Data.TaggedError("KraneDeploymentNotFound")<{
  readonly namespace: string
  readonly deploymentId: string
}> {}

export type KraneError = KraneUnavailable | KraneRejected

export interface KraneService {
  /** Idempotent by deploymentId: creating an existing deployment succeeds. */
  readonly createDeployment: (spec: KraneDeploymentSpec) => Effect.Effect<void, KraneError>
  readonly getDeployment: (
    namespace: string,
    deploymentId: string
  ) => Effect.Effect<ReadonlyArray<KraneInstance>, KraneError | KraneDeploymentNotFound>
  /** Idempotent: deleting an unknown deployment succeeds. */
  readonly deleteDeployment: (namespace: string, deploymentId: string) => Effect.Effect<void, KraneError>
}

export class Krane extends Context.Tag("berth/Krane")<Krane, KraneService>() {}
