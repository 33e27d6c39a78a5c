/**
 * Reads a command's header (`type`, `commandId`, `projectId`) from raw JSON without parsing the rest:
 * an oversized command is refused before JSON.parse, yet its publisher can still be told why (a
 * CommandRejected needs the header). One pass over the top-level object that skips nested values
 * and keeps only short top-level strings; anything that is not a JSON object gives undefined.
 * As with JSON.parse, a repeated key's last value wins.
 */

const headerKeys: ReadonlySet<string> = new Set(["type", "commandId", "projectId"])
/** Longer header values are invalid anyway (ids are at most 128 characters): left out unread. */
const maxValueLength = 512

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/** Index just past the string token starting at `i` (a `"`), or -1 when it does not end. */
const skipString = (text: string, i: number): number => {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j)
    if (c === 0x5c) j++ // backslash: the next character is escaped
    else if (c === 0x22) return j + 1
  }
  return -1
}

/** Index just past the value starting at `i` (any JSON value), or -1 when it does not end. */
const skipValue = (text: string, i: number): number => {
  const first = text.charCodeAt(i)
  if (first === 0x22) return skipString(text, i)
  if (first !== 0x7b && first !== 0x5b) {
    // number, true, false, null: up to the next delimiter
    let j = i
    while (j < text.length) {
      const c = text.charCodeAt(j)
      if (c === 0x2c || c === 0x7d || c === 0x5d || isSpace(c)) break
      j++
    }
    return j > i ? j : -1
  }
  let depth = 0
  for (let j = i; j < text.length; j++) {
    const c = text.charCodeAt(j)
    if (c === 0x22) {
      const end = skipString(text, j)
      if (end < 0) return -1
      j = end - 1
    } else if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) {
      depth--
      if (depth === 0) return j + 1
    }
  }
  return -1
}

const skipSpaces = (text: string, i: number): number => {
  let j = i
  while (j < text.length && isSpace(text.charCodeAt(j))) j++
  return j
}

const parseString = (token: string): string | undefined => {
  try {
    const value: unknown = JSON.parse(token)
    return typeof value === "string" ? value : undefined
  } catch {
    return undefined
  }
}

/** The top-level `type`, `commandId` and `projectId` strings of the JSON object in `text`, or undefined. */
export const peekHeader = (text: string): Readonly<Record<string, string>> | undefined => {
  const found: Record<string, string> = {}
  let i = skipSpaces(text, 0)
  if (text.charCodeAt(i) !== 0x7b) return undefined
  i = skipSpaces(text, i + 1)
  if (text.charCodeAt(i) === 0x7d) return found
  for (;;) {
    if (text.charCodeAt(i) !== 0x22) return undefined
    const keyEnd = skipString(text, i)
    if (keyEnd < 0) return undefined
    // Keys that matter are short; a long key is skipped without being decoded.
    const key = keyEnd - i <= 16 ? parseString(text.slice(i, keyEnd)) : undefined
    i = skipSpaces(text, keyEnd)
    if (text.charCodeAt(i) !== 0x3a) return undefined
    i = skipSpaces(text, i + 1)
    const valueEnd = skipValue(text, i)
    if (valueEnd < 0) return undefined
    if (key !== undefined && headerKeys.has(key)) {
      const value = text.charCodeAt(i) === 0x22 && valueEnd - i <= maxValueLength + 2 ? parseString(text.slice(i, valueEnd)) : undefined
      if (value === undefined) delete found[key]
      else found[key] = value
    }
    i = skipSpaces(text, valueEnd)
    const next = text.charCodeAt(i)
    if (next === 0x7d) return found
    if (next !== 0x2c) return undefined
    i = skipSpaces(text, i + 1)
  }
}
