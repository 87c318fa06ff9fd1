import { ATTR, type AttributeFilter, AttributeLimits, isAttributeParameter, NOT_ATTR, parseAttributeFilters } from './attribute-filters.ts'
import { type CursorPosition, decodeCursor, encodeCursor } from './cursor.ts'
import { toDatabaseError } from './database-errors.ts'
import type { Sql } from './db.ts'
import { QueryInvalidError } from './errors.ts'
import { type Level, Levels, normaliseLevel } from './levels.ts'
import { Limits } from './log-entry.ts'
import { budgetedRows, type LogRow, type LogView, logColumns, logView, RowLimits } from './log-rows.ts'
import { withPlan } from './search-plans.ts'
import { searchRows } from './search-rows.ts'
import { parseTime, TIME_FORMAT_HINT } from './time-range.ts'

// The SQL of a search and its plans live beside this module; these names stay importable from here.
export { withGinPlans } from './search-plans.ts'
export { usesGinFilters } from './search-rows.ts'
export { searchConditions, searchQuery } from './search-sql.ts'

/** Accepted ranges, in one place for validation, the OpenAPI schema and error messages. */
export const SearchLimits = {
  limitDefault: 100,
  limitMax: 1000,
  /** Page-based pagination reads and discards (page - 1) × limit rows; the cursor has no such cost. */
  pageMax: 1000,
  queryChars: 1000,
  /** A trace look-up returns at most this many logs, oldest first, and says when it stopped short. */
  traceMax: 1000,
  ...AttributeLimits,
} as const

/** The parameters parseSearch reads, besides attr.<path> and -attr.<path>. */
export const SearchParameters = ['service', 'level', 'from', 'to', 'host', 'trace_id', 'tags', 'q', 'limit', 'page', 'cursor'] as const
const MULTI_VALUED = new Set<string>(['tags'])

/** A parameter parseSearch reads itself: one of SearchParameters, or an attribute filter. */
export const isSearchParameter = (name: string): boolean => (SearchParameters as readonly string[]).includes(name) || isAttributeParameter(name)

export interface SearchInput {
  service?: string
  level?: string
  from?: string
  to?: string
  host?: string
  trace_id?: string
  tags?: string | string[]
  q?: string
  limit?: number | string
  page?: number | string
  cursor?: string
  /** attr.<dotted.path> and -attr.<dotted.path>, each a value or a list of values (repeated parameter). */
  [parameter: string]: string | string[] | number | undefined
}

export interface SearchOptions {
  nowMicros?: number
  /**
   * Parameters the endpoint reads itself (e.g. /histogram's buckets): parseSearch neither reads nor
   * refuses them. Any other parameter it does not know is a 400 naming it.
   */
  extra?: readonly string[]
}

export interface Search {
  service?: string
  levels?: Level[]
  fromMicros?: number
  toMicros?: number
  host?: string
  traceId?: string
  tags: string[]
  q?: string
  /** Optional so that a Search built by hand still type-checks; parseSearch always sets it. */
  attr?: AttributeFilter[]
  limit: number
  page: number
  cursor?: CursorPosition
}

export interface SearchResult {
  logs: LogView[]
  hasMore: boolean
  nextCursor: string | null
}

export interface TraceResult {
  logs: LogView[]
  truncated: boolean
}

const HEX_TRACE = /^[0-9a-f]{32}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const WHOLE_NUMBER = /^\d{1,10}$/
const SEARCHABLE = /[\p{L}\p{N}]/u

const fail = (parameter: string, message: string): never => {
  throw new QueryInvalidError(parameter, `${parameter}: ${message}`)
}

/** Strings reach SQL only as bind parameters, but PostgreSQL text cannot hold NUL: refuse it here, not with a 500. */
function text(parameter: string, value: string | undefined, maxChars: number): string | undefined {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (trimmed === '') return undefined
  if (trimmed.includes('\u0000')) fail(parameter, 'must not contain the NUL character')
  if (trimmed.length > maxChars) fail(parameter, `must be at most ${maxChars} characters`)
  return trimmed
}

function wholeNumber(parameter: string, value: number | string | undefined, fallback: number, max: number): number {
  if (value === undefined || value === '') return fallback
  const parsed = typeof value === 'number' ? value : WHOLE_NUMBER.test(value.trim()) ? Number(value.trim()) : NaN
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > max)
    fail(parameter, `must be a whole number from 1 to ${max}; got ${JSON.stringify(String(value)).slice(0, 40)}`)
  return parsed
}

function time(parameter: string, value: string | undefined, nowMicros: number): number | undefined {
  const raw = text(parameter, value, 64)
  if (raw === undefined) return undefined
  return parseTime(raw, nowMicros) ?? fail(parameter, `${JSON.stringify(raw)} is not a time; use ${TIME_FORMAT_HINT}`)
}

function levels(value: string | undefined): Level[] | undefined {
  const raw = text('level', value, 200)
  if (raw === undefined) return undefined
  const parsed = new Set<Level>()
  for (const item of raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    parsed.add(normaliseLevel(item) ?? fail('level', `${JSON.stringify(item)} is not a level; use one or more (comma-separated) of ${Levels.join(', ')}`))
  }
  return parsed.size > 0 ? [...parsed] : undefined
}

function tags(value: string | string[] | undefined): string[] {
  const items = (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .flatMap((item) => item.split(','))
    .map((item) => item.trim())
    .filter(Boolean)
  if (items.length > Limits.tags) fail('tags', `at most ${Limits.tags} tags; got ${items.length}`)
  for (const tag of items) text('tags', tag, Limits.tagChars)
  return [...new Set(items)]
}

/** The first parameter that is neither a search parameter nor one of `extra`, refused with the list of known ones. */
function refuseUnknown(input: SearchInput, extra: readonly string[]): void {
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined || isSearchParameter(name) || extra.includes(name)) continue
    const known = [...SearchParameters, ...extra, `${ATTR}<path>`, `${NOT_ATTR}<path>`].join(', ')
    throw new QueryInvalidError(name, `unknown parameter ${JSON.stringify(name).slice(0, 80)}; known: ${known}`)
  }
}

/** The raw parameters of a request, as parseSearch takes them: tags and attribute filters keep every value. */
export function searchInput(params: URLSearchParams): SearchInput {
  const input: SearchInput = {}
  for (const name of new Set(params.keys())) {
    const values = params.getAll(name)
    input[name] = MULTI_VALUED.has(name) || (isAttributeParameter(name) && values.length > 1) ? values : values[0]
  }
  return input
}

/** A W3C trace id (32 hex digits, any case) or a UUID, normalised the way ingest stores it. */
export function parseTraceId(value: string, parameter = 'trace_id'): string {
  const lower = value.trim().toLowerCase()
  const hex = UUID.test(lower) ? lower.replaceAll('-', '') : lower
  return HEX_TRACE.test(hex) ? hex : fail(parameter, 'must be 32 hex digits (W3C trace-context) or a UUID')
}

/**
 * Validates every parameter of GET /query; throws QueryInvalidError naming the first bad one, starting with
 * any parameter it does not know (a typo such as servce must not silently widen the search). The second
 * argument is the current time in epoch microseconds (kept for existing callers) or SearchOptions.
 */
export function parseSearch(input: SearchInput, options: number | SearchOptions = {}): Search {
  const { nowMicros = Date.now() * 1000, extra = [] } = typeof options === 'number' ? { nowMicros: options } : options
  refuseUnknown(input, extra)
  const limit = wholeNumber('limit', input.limit, SearchLimits.limitDefault, SearchLimits.limitMax)
  const page = wholeNumber('page', input.page, 1, SearchLimits.pageMax)
  const rawCursor = text('cursor', input.cursor, 200)
  const cursor =
    rawCursor === undefined
      ? undefined
      : (decodeCursor(rawCursor) ?? fail('cursor', 'is not a cursor this API issued; pass next_cursor from a previous response unchanged'))
  if (cursor && page !== 1) fail('page', 'cannot be combined with cursor; a cursor already says where the next page starts')

  const fromMicros = time('from', input.from, nowMicros)
  const toMicros = time('to', input.to, nowMicros)
  if (fromMicros !== undefined && toMicros !== undefined && fromMicros > toMicros) fail('from', 'must not be later than to')

  const traceRaw = text('trace_id', input.trace_id, 64)
  const q = text('q', input.q, SearchLimits.queryChars)
  if (q !== undefined && !SEARCHABLE.test(q)) fail('q', 'must contain at least one letter or digit to search for')

  return {
    service: text('service', input.service, Limits.serviceChars),
    levels: levels(input.level),
    fromMicros,
    toMicros,
    host: text('host', input.host, Limits.hostChars),
    traceId: traceRaw === undefined ? undefined : parseTraceId(traceRaw),
    tags: tags(input.tags),
    q,
    attr: parseAttributeFilters(input, extra),
    limit,
    page,
    cursor,
  }
}

/**
 * One page of logs matching `search`, newest first: at most search.limit logs and, past the first, at most
 * `pageBytes` of message and metadata (RowLimits); a page cut short by either says has_more, with a cursor.
 * A database that cannot answer now throws a retryable LogStreamError (DatabaseUnavailableError,
 * QueryTimeoutError): callers answer from the error alone.
 */
export async function searchLogs(sql: Sql, search: Search, pageBytes: number = RowLimits.pageBytes): Promise<SearchResult> {
  try {
    const rows = await searchRows(sql, search)
    const page = await budgetedRows(sql, rows.slice(0, search.limit), pageBytes)
    const hasMore = rows.length > page.fitted
    const last = rows[page.fitted - 1]
    const nextCursor =
      hasMore && last ? encodeCursor({ timestamp: last.timestamp, partition: last.kafka_partition, offset: last.kafka_offset.toString() }) : null
    return { logs: page.rows.map(logView), hasMore, nextCursor }
  } catch (error) {
    throw toDatabaseError(error, 'cannot search logs')
  }
}

export function traceQuery(sql: Sql, traceId: string) {
  return sql<LogRow[]>`
    select ${logColumns(sql)} from logs
    where trace_id = ${traceId}
    order by logs.timestamp, logs.kafka_partition, logs.kafka_offset
    limit ${SearchLimits.traceMax + 1}`
}

/**
 * Every log of a trace, oldest first: at most SearchLimits.traceMax of them and RowLimits.pageBytes of
 * message and metadata; truncated says when it stopped short. Database failures as in searchLogs.
 */
export async function traceLogs(sql: Sql, traceId: string): Promise<TraceResult> {
  try {
    // The trace index, whatever the statistics say (a walk of the primary key took 13 s on a busy hour).
    const rows = await withPlan(sql, 'bitmap', (tx) => traceQuery(tx, traceId))
    const page = await budgetedRows(sql, rows.slice(0, SearchLimits.traceMax))
    return { logs: page.rows.map(logView), truncated: rows.length > page.fitted }
  } catch (error) {
    throw toDatabaseError(error, 'cannot look up the trace')
  }
}

/**
 * Connection settings for the query API, passed as parameters in the URL, which postgres.js forwards.
 * plan_cache_mode=force_custom_plan: plans are made per request with the actual values; a cached generic
 * plan cannot know that `level = 'FATAL'` is rare or that a `q` word is common. jit=off: queries whose
 * estimated cost passes jit_above_cost (any q or tags search over all partitions) spent ~50 ms compiling
 * to answer in under 1 ms. statement_timeout: a query stuck behind a lock or a sick server is cancelled
 * (answered 503) instead of holding a connection and its client for ever.
 */
export function queryDatabaseUrl(databaseUrl: string, statementTimeoutMs = 10_000): string {
  const url = new URL(databaseUrl)
  url.searchParams.set('statement_timeout', String(statementTimeoutMs))
  url.searchParams.set('plan_cache_mode', 'force_custom_plan')
  url.searchParams.set('jit', 'off')
  return url.toString()
}
