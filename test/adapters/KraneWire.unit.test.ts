/**
 * Decoding the Krane wire: both field-name spellings, proto3 omissions, enums by name or number.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, type ParseResult } from "effect"
import {
  CreateDeploymentRequest,
  CreateDeploymentResponse,
  DeploymentKey,
  GetDeploymentResponse,
  decodeWire,
  instanceStatusFromWire,
  instanceStatusToWire
} from "../../src/adapters/krane/KraneWire.js"

interface Case {
  readonly name: string
  readonly decode: (input: unknown) => Effect.Effect<unknown, ParseResult.ParseError>
  readonly input: unknown
  /** Expected decoded value, or "error" when decoding must fail. */
  readonly expected: unknown
}

const cases: ReadonlyArray<Case> = [
  {
    name: "GetDeployment response, camelCase, statuses by name",
    decode: decodeWire(GetDeploymentResponse),
    input: { instances: [{ id: "i1", address: "10.0.0.1:8080", status: "DEPLOYMENT_STATUS_RUNNING" }] },
    expected: { instances: [{ id: "i1", address: "10.0.0.1:8080", status: "DEPLOYMENT_STATUS_RUNNING" }] }
  },
  {
    name: "GetDeployment response, numeric statuses",
    decode: decodeWire(GetDeploymentResponse),
    input: {
      instances: [
        { id: "a", address: "h:1", status: 0 },
        { id: "b", address: "h:2", status: 1 },
        { id: "c", address: "h:3", status: 2 },
        { id: "d", address: "h:4", status: 3 }
      ]
    },
    expected: {
      instances: [
        { id: "a", address: "h:1", status: "DEPLOYMENT_STATUS_UNSPECIFIED" },
        { id: "b", address: "h:2", status: "DEPLOYMENT_STATUS_PENDING" },
        { id: "c", address: "h:3", status: "DEPLOYMENT_STATUS_RUNNING" },
        { id: "d", address: "h:4", status: "DEPLOYMENT_STATUS_TERMINATING" }
      ]
    }
  },
  {
    name: "GetDeployment response, instances omitted means none",
    decode: decodeWire(GetDeploymentResponse),
    input: {},
    expected: { instances: [] }
  },
  {
    name: "GetDeployment response, instance with default status omitted",
    decode: decodeWire(GetDeploymentResponse),
    input: { instances: [{ id: "i1", address: "h:1" }] },
    expected: { instances: [{ id: "i1", address: "h:1", status: "DEPLOYMENT_STATUS_UNSPECIFIED" }] }
  },
  {
    name: "GetDeployment response, unknown status name is an error",
    decode: decodeWire(GetDeploymentResponse),
    input: { instances: [{ id: "i1", address: "h:1", status: "DEPLOYMENT_STATUS_EXPLODED" }] },
    expected: "error"
  },
  {
    name: "GetDeployment response, out-of-range status number is an error",
    decode: decodeWire(GetDeploymentResponse),
    input: { instances: [{ id: "i1", address: "h:1", status: 7 }] },
    expected: "error"
  },
  {
    name: "GetDeployment response, instances not an array is an error",
    decode: decodeWire(GetDeploymentResponse),
    input: { instances: "nope" },
    expected: "error"
  },
  {
    name: "CreateDeployment response, status by number",
    decode: decodeWire(CreateDeploymentResponse),
    input: { status: 1 },
    expected: { status: "DEPLOYMENT_STATUS_PENDING" }
  },
  {
    name: "CreateDeployment response, empty",
    decode: decodeWire(CreateDeploymentResponse),
    input: {},
    expected: {}
  },
  {
    name: "CreateDeployment request, camelCase with Berth extras",
    decode: decodeWire(CreateDeploymentRequest),
    input: {
      deployment: {
        namespace: "p1",
        deploymentId: "d1",
        command: ["node", "server.js"],
        replicas: 2,
        cpuMillicores: 250,
        memorySizeMib: 256,
        port: 3000,
        env: { DATABASE_URL: "postgres://x", deployment_id: "kept" }
      }
    },
    expected: {
      deployment: {
        namespace: "p1",
        deploymentId: "d1",
        command: ["node", "server.js"],
        replicas: 2,
        cpuMillicores: 250,
        memorySizeMib: 256,
        port: 3000,
        // env keys are user data and must not be renamed.
        env: { DATABASE_URL: "postgres://x", deployment_id: "kept" }
      }
    }
  },
  {
    name: "CreateDeployment request, snake_case with uint64 as string and unknown fields ignored",
    decode: decodeWire(CreateDeploymentRequest),
    input: {
      deployment: {
        namespace: "p1",
        deployment_id: "d1",
        image: "nginx:1",
        replicas: 1,
        cpu_millicores: 100,
        memory_size_mib: "512",
        environment_slug: "production"
      }
    },
    expected: {
      deployment: { namespace: "p1", deploymentId: "d1", image: "nginx:1", replicas: 1, cpuMillicores: 100, memorySizeMib: 512 }
    }
  },
  {
    name: "CreateDeployment request, omitted zero scalars default to 0",
    decode: decodeWire(CreateDeploymentRequest),
    input: { deployment: { namespace: "p1", deploymentId: "d1" } },
    expected: { deployment: { namespace: "p1", deploymentId: "d1", replicas: 0, cpuMillicores: 0, memorySizeMib: 0 } }
  },
  {
    name: "CreateDeployment request, negative replicas is an error",
    decode: decodeWire(CreateDeploymentRequest),
    input: { deployment: { namespace: "p1", deploymentId: "d1", replicas: -1 } },
    expected: "error"
  },
  {
    name: "deployment key, snake_case",
    decode: decodeWire(DeploymentKey),
    input: { namespace: "p1", deployment_id: "d1" },
    expected: { namespace: "p1", deploymentId: "d1" }
  },
  {
    name: "deployment key, missing deploymentId is an error",
    decode: decodeWire(DeploymentKey),
    input: { namespace: "p1" },
    expected: "error"
  }
]

describe("KraneWire decoding", () => {
  for (const c of cases) {
    it.effect(c.name, () =>
      Effect.gen(function* () {
        const result = yield* Effect.either(c.decode(c.input))
        if (c.expected === "error") expect(Either.isLeft(result)).toBe(true)
        else expect(result).toEqual(Either.right(c.expected))
      })
    )
  }
})

describe("KraneWire status mapping", () => {
  it("round-trips every port status through its wire name", () => {
    for (const status of ["PENDING", "RUNNING", "TERMINATING", "UNSPECIFIED"] as const) {
      expect(instanceStatusFromWire(instanceStatusToWire(status))).toBe(status)
    }
  })
})
