/**
 * The token endpoints' bodies (POST/GET /v1/tokens). A token's secret appears in exactly one
 * answer: the one that created it. Lists and the store hold only what `TokenView` shows.
 */
import { Either, Schema } from "effect"
import { expiryHelp, parseExpiry } from "../auth/expiry.js"
import { Role } from "../auth/scope.js"
import { Slug } from "../domain/ids.js"

const Timestamp = Schema.Date.annotations({ description: "ISO-8601 timestamp" })

export const CreateTokenRequest = Schema.Struct({
  workspace: Schema.NullOr(Slug).annotations({ description: "the one workspace the token reaches; null: every workspace" }),
  role: Role,
  expiresIn: Schema.optional(
    Schema.String.pipe(
      Schema.filter((text) => Either.match(parseExpiry(text), { onLeft: (message) => message, onRight: () => true }))
    ).annotations({ description: `${expiryHelp}; no expiry when absent` })
  ),
  description: Schema.optional(Schema.String.pipe(Schema.maxLength(200)))
}).annotations({ identifier: "CreateTokenRequest" })
export type CreateTokenRequest = typeof CreateTokenRequest.Type

const tokenFields = {
  tokenId: Schema.String.annotations({ description: "tok_…: the actor the audit trail records for its commands" }),
  workspace: Schema.NullOr(Schema.String).annotations({ description: "null: every workspace" }),
  role: Role,
  createdBy: Schema.String.annotations({ description: "the token id that created it (admin: the bootstrap admin token)" }),
  createdAt: Timestamp,
  expiresAt: Schema.NullOr(Timestamp),
  description: Schema.optional(Schema.String)
}

export const TokenView = Schema.Struct(tokenFields).annotations({ identifier: "Token", description: "An API token, without its secret" })
export type TokenView = typeof TokenView.Type

export const TokenCreated = Schema.Struct({
  ...tokenFields,
  token: Schema.String.annotations({ description: "the token itself: shown this once, stored only as a hash" })
}).annotations({ identifier: "TokenCreated" })
export type TokenCreated = typeof TokenCreated.Type

export const TokenList = Schema.Struct({ tokens: Schema.Array(TokenView) }).annotations({ identifier: "TokenList" })
export type TokenList = typeof TokenList.Type
