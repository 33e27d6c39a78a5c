/**
 * What the durable steps report back to their project's actor. They are messages, not events:
 * `decide` turns each into the events it proves, or into nothing when it is stale or a duplicate.
 */
import type { DomainAssignment, Instance, StepName } from "./events.js"

export type StepResult =
  | { readonly type: "KraneCreated"; readonly deploymentId: string; readonly namespace: string; readonly kraneDeploymentId: string }
  | { readonly type: "InstancesPolled"; readonly deploymentId: string; readonly instances: ReadonlyArray<Instance> }
  | { readonly type: "ReadinessTimedOut"; readonly deploymentId: string }
  | {
      readonly type: "SpecCaptured"
      readonly deploymentId: string
      readonly path: string
      readonly objectName: string
      readonly sizeBytes: number
      readonly sha256: string
    }
  | { readonly type: "SpecNotFound"; readonly deploymentId: string; readonly path: string; readonly reason: string }
  | {
      readonly type: "RoutesWritten"
      readonly deploymentId: string
      readonly domains: ReadonlyArray<DomainAssignment>
      readonly withheld: ReadonlyArray<DomainAssignment>
      readonly routeRevision: number
    }
  | { readonly type: "StepFailed"; readonly deploymentId: string; readonly step: StepName; readonly reason: string }
  | {
      readonly type: "Compensated"
      readonly deploymentId: string
      readonly kraneDeleted: boolean
      readonly releasedDomains: ReadonlyArray<string>
      readonly problem?: string | undefined
    }
