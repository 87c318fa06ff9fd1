import type { Sql } from './db.ts'
import { QueryInvalidError } from './errors.ts'

/**
 * Attribute filters on `metadata`, for every endpoint that takes the search filters: `attr.<path>=value`,
 * `attr.<path>=*` and their `-attr.` negations, parsed from request parameters and turned into conditions
 * the metadata GIN index (jsonb_path_ops) answers.
 */

export const ATTR = 'attr.'
export const NOT_ATTR = '-attr.'

export const AttributeLimits = {
  /** attr.<path> / -attr.<path> filters per search; each is one or a few GIN look-ups. */
  attrFilters: 20,
  attrPathChars: 256,
  attrValueBytes: 1024,
} as const

export const isAttributeParameter = (name: string): boolean => name.startsWith(ATTR) || name.startsWith(NOT_ATTR)

const fail = (parameter: string, message: string): never => {
  throw new QueryInvalidError(parameter, `${parameter}: ${message}`)
}

/**
 * One attr.<path>=value filter on metadata. `path` is the dotted path split at the dots; it matches nested
 * objects ({"http":{"status":…}}) or a top-level key holding the dots ({"http.status":…}), either one.
 * `value` undefined means "present" (=*); `negate` (-attr.) turns either into "not equal or absent" / "absent".
 */
export interface AttributeFilter {
  parameter: string
  path: string[]
  value?: string
  negate: boolean
}

const UTF8 = new TextEncoder()

/**
 * attr.<path>=value, attr.<path>=* and their -attr. negations, each repeatable; ANDed. Values are kept
 * exactly as sent (not trimmed): they are compared with stored values.
 */
export function parseAttributeFilters(input: Record<string, string | string[] | number | undefined>, extra: readonly string[]): AttributeFilter[] {
  const filters = new Map<string, AttributeFilter>()
  for (const [parameter, raw] of Object.entries(input)) {
    const negate = parameter.startsWith(NOT_ATTR)
    if (raw === undefined || extra.includes(parameter) || !(negate || parameter.startsWith(ATTR))) continue
    const path = parameter.slice(negate ? NOT_ATTR.length : ATTR.length)
    if (path.length > AttributeLimits.attrPathChars) fail(parameter, `the path must be at most ${AttributeLimits.attrPathChars} characters`)
    if (path.includes('\u0000') || !path.isWellFormed()) fail(parameter, 'the path must not contain the NUL character or broken UTF-16')
    const segments = path.split('.')
    if (segments.some((segment) => segment === '')) fail(parameter, `every segment of the path must be non-empty (e.g. ${ATTR}http.status)`)
    for (const item of Array.isArray(raw) ? raw : [String(raw)]) {
      if (item === '') fail(parameter, 'needs a value: =value for equality, =* for present')
      if (item.includes('\u0000') || !item.isWellFormed()) fail(parameter, 'must not contain the NUL character or broken UTF-16')
      if (UTF8.encode(item).length > AttributeLimits.attrValueBytes) fail(parameter, `the value must be at most ${AttributeLimits.attrValueBytes} bytes`)
      const value = item === '*' ? undefined : item
      filters.set(JSON.stringify([negate, segments, value ?? null]), { parameter, path: segments, value, negate })
      if (filters.size > AttributeLimits.attrFilters) fail(parameter, `at most ${AttributeLimits.attrFilters} attribute filters (attr. and -attr. together)`)
    }
  }
  return [...filters.values()]
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d{1,4})?$/

/**
 * The JSON documents `metadata @>` must contain for attr.<path>=value: the path nested and, when it has
 * dots, as one literal key; the value as a string and, when it reads as one, as a JSON number, boolean or
 * null too (a query string cannot say which was stored). Built as JSON text, each key and string through
 * JSON.stringify; a number goes in as sent (validated above), so 12345678901234567890 keeps its digits.
 */
export function attributeDocuments({ path, value }: AttributeFilter): string[] {
  if (value === undefined) return []
  const leaves = [JSON.stringify(value)]
  if (JSON_NUMBER.test(value) || value === 'true' || value === 'false' || value === 'null') leaves.push(value)
  const paths = path.length > 1 ? [path, [path.join('.')]] : [path]
  return paths.flatMap((keys) => leaves.map((leaf) => keys.reduceRight((inner, key) => `{${JSON.stringify(key)}:${inner}}`, leaf)))
}

/** The jsonpath(s) `metadata @?` tests for attr.<path>=*: keys quoted with JSON.stringify ($."http"."status"), nested and literal. */
export function attributePaths({ path }: AttributeFilter): string[] {
  const paths = path.length > 1 ? [path, [path.join('.')]] : [path]
  return paths.map((keys) => `$${keys.map((key) => `.${JSON.stringify(key)}`).join('')}`)
}

/**
 * attr.<path>=value is `metadata @> …` (the metadata GIN index, jsonb_path_ops, answers it); =* is `metadata @? …`.
 * The documents go in as text cast by PostgreSQL: postgres.js JSON-encodes a parameter the server types as
 * jsonb, which turned the document into one JSON string that matched nothing.
 */
export function attributeCondition(sql: Sql, filter: AttributeFilter) {
  const tests =
    filter.value === undefined
      ? attributePaths(filter).map((path) => sql`metadata @? ${path}::text::jsonpath`)
      : attributeDocuments(filter).map((document) => sql`metadata @> ${document}::text::jsonb`)
  const any = tests.reduce((all, test) => sql`${all} or ${test}`)
  return filter.negate ? sql`not (${any})` : sql`(${any})`
}
