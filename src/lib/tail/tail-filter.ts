import type { AttributeFilter } from '../attribute-filters.ts'
import type { LogView } from '../log-rows.ts'
import type { Search } from '../log-search.ts'
import { parseRfc3339 } from '../time-range.ts'
import { mayMatch, parseTsQuery, type TsQuery } from './tsquery.ts'

/**
 * A /tail client's filters, decided in memory for each new log: the same parameters and meaning as /query
 * (log-search.ts searchConditions, attribute-filters.ts), so a tail shows what /query would list.
 * Everything but `q` is decided here. `q` is decided by PostgreSQL, whose text-search parser is its
 * definition (tsquery.ts says why); here it only rules out messages that cannot match.
 */
export interface TailFilter {
  search: Search
  /** Equal for filters that select the same logs (same parameters, same q), so their decisions can be shared. */
  key: string
  /** The tsquery text of `q` (websearch_to_tsquery('simple', q)::text), when there is a q. */
  query?: { text: string; tree: TsQuery | undefined }
}

/** A log as the filters see it: its view, its timestamp in epoch microseconds, and its message lower-cased when ASCII only. */
export interface FilterInput {
  view: LogView
  micros: number
  /** undefined when the message holds non-ASCII text, which JavaScript and PostgreSQL lower-case differently. */
  asciiLower: string | undefined
}

const NOT_ASCII = /[\u0080-\uffff]/

/** `message` lower-cased if it is ASCII only (where toLowerCase is exactly PostgreSQL's lower-casing), else undefined. */
export const asciiLower = (message: string): string | undefined => (NOT_ASCII.test(message) ? undefined : message.toLowerCase())

/** What the filters read of a log; its timestamp to the microsecond (a JavaScript Date keeps milliseconds). */
export function filterInput(view: LogView): FilterInput {
  return { view, micros: parseRfc3339(view.timestamp) ?? Number.NaN, asciiLower: asciiLower(view.message) }
}

export function tailFilter(search: Search, tsquery?: string): TailFilter {
  const { limit: _limit, page: _page, cursor: _cursor, q: _q, ...selecting } = search
  const key = JSON.stringify([selecting, tsquery ?? null])
  return tsquery === undefined ? { search, key } : { search, key, query: { text: tsquery, tree: parseTsQuery(tsquery) } }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d{1,4})?$/

/**
 * `value` as `metadata @> {path: value}` compares it: the same string, or, when the parameter spells one,
 * the JSON number (numerically: 500.0 equals 500), true, false or null. An array holding the value does
 * not count (containment wants the same structure below the top level).
 */
function equalsParameter(stored: unknown, value: string): boolean {
  if (typeof stored === 'string') return stored === value
  if (typeof stored === 'number') return JSON_NUMBER.test(value) && stored === Number(value)
  if (typeof stored === 'boolean') return value === (stored ? 'true' : 'false')
  return stored === null && value === 'null'
}

/** `metadata @> {"a":{"b":value}}`: every step an object holding the key, the last one equal to the value. */
function containsAt(metadata: Record<string, unknown>, keys: readonly string[], value: string): boolean {
  let current: unknown = metadata
  for (const key of keys) {
    if (!isObject(current) || !Object.hasOwn(current, key)) return false
    current = current[key]
  }
  return equalsParameter(current, value)
}

/**
 * `metadata @? '$."a"."b"'` in jsonpath's lax mode: a step into an array looks into its elements (one
 * level), a step into anything but an object finds nothing; present if anything is found, null included.
 */
function existsAt(metadata: Record<string, unknown>, keys: readonly string[]): boolean {
  let items: unknown[] = [metadata]
  for (const key of keys) {
    const next: unknown[] = []
    for (const item of items) {
      for (const candidate of Array.isArray(item) ? item : [item]) {
        if (isObject(candidate) && Object.hasOwn(candidate, key)) next.push(candidate[key])
      }
    }
    if (next.length === 0) return false
    items = next
  }
  return true
}

/** One attr.<path> filter: the dotted path nested or as one literal key, either matching (attribute-filters.ts). */
function matchesAttribute(metadata: Record<string, unknown>, filter: AttributeFilter): boolean {
  const paths = filter.path.length > 1 ? [filter.path, [filter.path.join('.')]] : [filter.path]
  const value = filter.value
  const any = paths.some((keys) => (value === undefined ? existsAt(metadata, keys) : containsAt(metadata, keys, value)))
  return filter.negate ? !any : any
}

/** Every filter but q: service, level, time range, host, trace_id, tags, attr.<path>. */
export function matchesFields(filter: TailFilter, input: FilterInput): boolean {
  const { search } = filter
  const { view } = input
  if (search.service !== undefined && view.service !== search.service) return false
  if (search.levels && !search.levels.includes(view.level)) return false
  if (search.fromMicros !== undefined && input.micros < search.fromMicros) return false
  if (search.toMicros !== undefined && input.micros > search.toMicros) return false
  if (search.host !== undefined && view.host !== search.host) return false
  if (search.traceId !== undefined && view.trace_id !== search.traceId) return false
  for (const tag of search.tags) if (!view.tags.includes(tag)) return false
  for (const attribute of search.attr ?? []) if (!matchesAttribute(view.metadata, attribute)) return false
  return true
}

/** False when the log cannot match the filter's q; true when PostgreSQL must decide. */
export function queryMayMatch(query: NonNullable<TailFilter['query']>, input: FilterInput): boolean {
  if (query.tree === undefined) return false
  return input.asciiLower === undefined || mayMatch(query.tree, input.asciiLower)
}
