/**
 * RFC 9457 problem details for the status API. Each error is a tagged class in code and, on the wire,
 * a bare problem document `{ type, title, status, detail }` served as `application/problem+json`
 * (the schema transform drops `_tag`; HttpApiSchema annotations set the status and content type).
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

export const problemContentType = "application/problem+json"

export const ProblemDocument = Schema.Struct({
  type: Schema.String.annotations({ description: "URI reference identifying the problem type" }),
  title: Schema.String,
  status: Schema.Number,
  detail: Schema.String
})
export type ProblemDocument = typeof ProblemDocument.Type

export const problemBody = (status: number, title: string, detail: string): ProblemDocument => ({
  type: "about:blank",
  title,
  status,
  detail
})

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { detail: Schema.String }) {}
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", { detail: Schema.String }) {}
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", { detail: Schema.String }) {}
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", { detail: Schema.String }) {}
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", { detail: Schema.String }) {}
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()("ServiceUnavailable", { detail: Schema.String }) {}

/** The wire schema of a problem class: encodes an instance as a problem document with `status`. */
const asProblem = <Tag extends string, Self extends { readonly _tag: Tag; readonly detail: string }>(
  cls: Schema.Schema<Self, { readonly _tag: Tag; readonly detail: string }>,
  tag: Tag,
  status: number,
  title: string
) =>
  Schema.transform(ProblemDocument, cls, {
    strict: true,
    decode: (problem) => ({ _tag: tag, detail: problem.detail }),
    encode: (error) => problemBody(status, title, error.detail)
  }).pipe(
    HttpApiSchema.withEncoding({ kind: "Json", contentType: problemContentType }),
    (schema) =>
      schema.annotations(
        HttpApiSchema.annotations({ status, identifier: `${tag}Problem`, description: `${title} (RFC 9457 problem details)` })
      )
  )

export const NotFoundProblem = asProblem(NotFound, "NotFound", 404, "Not Found")
export const BadRequestProblem = asProblem(BadRequest, "BadRequest", 400, "Bad Request")
export const ConflictProblem = asProblem(Conflict, "Conflict", 409, "Conflict")
export const UnauthorizedProblem = asProblem(Unauthorized, "Unauthorized", 401, "Unauthorized")
export const ForbiddenProblem = asProblem(Forbidden, "Forbidden", 403, "Forbidden")
export const ServiceUnavailableProblem = asProblem(ServiceUnavailable, "ServiceUnavailable", 503, "Service Unavailable")
