/**
 * Array parameters for set-based statements (`select ... from rows from (unnest($1::text[]), ...)`),
 * built in one pass over the rows when a batch is folded.
 *
 * Array literals: postgres.js passes a string through for an array parameter; given arrays, it would
 * re-parse every timestamp and escape every element with two regular expressions, which costs more than
 * the rest of a batch's fold. Elements are quoted (NULL is not), so any text is safe.
 *
 * jsonb values travel as one JSON array (`jsonb_array_elements($1::text::jsonb)`) instead: escaping
 * JSON text into an array literal costs several times what serialising it does.
 */

const special = /["\\]/g

const quote = (value: string): string =>
  `"${value.includes("\"") || value.includes("\\") ? value.replace(special, "\\$&") : value}"`

// Joined, not concatenated: a long chain of concatenations is flattened when sent, at a higher cost.
const literal = <R, A>(rows: ReadonlyArray<R>, pick: (row: R) => A | null, element: (value: A) => string): string => {
  const elements = new Array<string>(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const value = pick(rows[i] as R)
    elements[i] = value === null ? "NULL" : element(value)
  }
  return `{${elements.join(",")}}`
}

/** For `::text[]`. */
export const texts = <R>(rows: ReadonlyArray<R>, pick: (row: R) => string | null): string => literal(rows, pick, quote)

/** For `::int[]`, `::bigint[]`. */
export const numbers = <R>(rows: ReadonlyArray<R>, pick: (row: R) => number | null): string => literal(rows, pick, String)

/**
 * For `::float8[]`, read back with `to_timestamp(x / 1000)`: instants as epoch milliseconds (exact: a
 * Date holds whole milliseconds), several times cheaper than ISO 8601 on both sides.
 */
export const times = <R>(rows: ReadonlyArray<R>, pick: (row: R) => Date | null): string =>
  literal(rows, pick, (date) => String(date.getTime()))

/** For `::bool[]`. */
export const bools = <R>(rows: ReadonlyArray<R>, pick: (row: R) => boolean): string => literal(rows, pick, (b) => (b ? "t" : "f"))

/** For `jsonb_array_elements($1::text::jsonb)`: one value per row, in order. */
export const jsonValues = <R>(rows: ReadonlyArray<R>, pick: (row: R) => unknown): string => JSON.stringify(rows.map(pick))
