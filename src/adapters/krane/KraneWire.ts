/**
 * The Krane wire: Schemas for krane.v1.DeploymentService spoken as Connect unary JSON, plus the
 * translation between wire enums and the port's InstanceStatus. Shared by ConnectKrane (client)
 * and the test server, so both sides agree on one definition of the protocol.
 */
import { Schema, type ParseResult, type Effect } from "effect"
import type { InstanceStatus } from "./Krane.js"

/**
 * proto3 JSON lets a peer send either the lowerCamel json_name or the original snake_case field
 * name, so we rename the snake_case spellings we know before decoding. Only known names are
 * rewritten, and `env` values are left alone because their keys are user data (e.g. DATABASE_URL).
 */
const SNAKE_TO_CAMEL: Readonly<Record<string, string>> = {
  deployment_id: "deploymentId",
  cpu_millicores: "cpuMillicores",
  memory_size_mib: "memorySizeMib"
}

export const normaliseKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(normaliseKeys)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) {
    const name = SNAKE_TO_CAMEL[key] ?? key
    out[name] = name === "env" ? inner : normaliseKeys(inner)
  }
  return out
}

/**
 * Decode a JSON value received from the wire, accepting either field-name spelling. Synchronous (an
 * Either, which is an Effect): a reply is decoded without a trip through the fiber runtime.
 */
export const decodeWire = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (value: unknown): Effect.Effect<A, ParseResult.ParseError> => decode(normaliseKeys(value))
}

export const WIRE_STATUS_NAMES = [
  "DEPLOYMENT_STATUS_UNSPECIFIED",
  "DEPLOYMENT_STATUS_PENDING",
  "DEPLOYMENT_STATUS_RUNNING",
  "DEPLOYMENT_STATUS_TERMINATING"
] as const

export const WireStatusName = Schema.Literal(...WIRE_STATUS_NAMES)
export type WireStatusName = typeof WireStatusName.Type

const WIRE_STATUS_NUMBERS: Readonly<Record<WireStatusName, 0 | 1 | 2 | 3>> = {
  DEPLOYMENT_STATUS_UNSPECIFIED: 0,
  DEPLOYMENT_STATUS_PENDING: 1,
  DEPLOYMENT_STATUS_RUNNING: 2,
  DEPLOYMENT_STATUS_TERMINATING: 3
}

/** proto3 JSON writes enums by name, but parsers must also accept the number. */
export const WireStatus = Schema.Union(
  WireStatusName,
  Schema.transform(Schema.Literal(0, 1, 2, 3), WireStatusName, {
    strict: true,
    decode: (n) => WIRE_STATUS_NAMES[n],
    encode: (name) => WIRE_STATUS_NUMBERS[name]
  })
)

export const wireStatusNumber = (name: WireStatusName): 0 | 1 | 2 | 3 => WIRE_STATUS_NUMBERS[name]

export const instanceStatusFromWire = (name: WireStatusName): InstanceStatus => {
  switch (name) {
    case "DEPLOYMENT_STATUS_PENDING":
      return "PENDING"
    case "DEPLOYMENT_STATUS_RUNNING":
      return "RUNNING"
    case "DEPLOYMENT_STATUS_TERMINATING":
      return "TERMINATING"
    case "DEPLOYMENT_STATUS_UNSPECIFIED":
      return "UNSPECIFIED"
  }
}

export const instanceStatusToWire = (status: InstanceStatus): WireStatusName => `DEPLOYMENT_STATUS_${status}`

/** proto3 JSON may quote integers (always so for uint64 such as memory_size_mib). */
const WireUint = Schema.Union(Schema.Number, Schema.NumberFromString).pipe(Schema.int(), Schema.nonNegative())

/** proto3 JSON omits fields holding their default value, so absent scalars decode to that default. */
const uintDefaultZero = Schema.optionalWith(WireUint, { default: () => 0 })
const stringDefaultEmpty = Schema.optionalWith(Schema.String, { default: () => "" })

export const WireDeployment = Schema.Struct({
  namespace: Schema.String,
  deploymentId: Schema.String,
  image: Schema.optionalWith(Schema.String, { exact: true }),
  replicas: uintDefaultZero,
  cpuMillicores: uintDefaultZero,
  memorySizeMib: uintDefaultZero,
  // Berth extras: not in Unkey's proto; krane-local uses them to run a command instead of an image.
  command: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  port: Schema.optionalWith(WireUint, { exact: true }),
  env: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { exact: true })
})
export type WireDeployment = typeof WireDeployment.Type

export const CreateDeploymentRequest = Schema.Struct({ deployment: WireDeployment })
export type CreateDeploymentRequest = typeof CreateDeploymentRequest.Type

export const CreateDeploymentResponse = Schema.Struct({ status: Schema.optionalWith(WireStatus, { exact: true }) })
export type CreateDeploymentResponse = typeof CreateDeploymentResponse.Type

/** GetDeployment and DeleteDeployment both address a deployment by this pair. */
export const DeploymentKey = Schema.Struct({ namespace: Schema.String, deploymentId: Schema.String })
export type DeploymentKey = typeof DeploymentKey.Type

export const GetDeploymentRequest = DeploymentKey
export const DeleteDeploymentRequest = DeploymentKey

export const WireInstance = Schema.Struct({
  id: stringDefaultEmpty,
  address: stringDefaultEmpty,
  status: Schema.optionalWith(WireStatus, { default: () => "DEPLOYMENT_STATUS_UNSPECIFIED" as const })
})
export type WireInstance = typeof WireInstance.Type

export const GetDeploymentResponse = Schema.Struct({
  instances: Schema.optionalWith(Schema.Array(WireInstance), { default: () => [] })
})
export type GetDeploymentResponse = typeof GetDeploymentResponse.Type

export const DeleteDeploymentResponse = Schema.Struct({})

/** Connect's error body; `code` stays an open string so unknown future codes still decode. */
export const ConnectErrorBody = Schema.Struct({
  code: Schema.String,
  message: stringDefaultEmpty
})
export type ConnectErrorBody = typeof ConnectErrorBody.Type

export const SERVICE_PATH = "/krane.v1.DeploymentService"

export type KraneMethod = "CreateDeployment" | "GetDeployment" | "DeleteDeployment"
