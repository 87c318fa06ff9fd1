import { ATTR, type AttributeFilter, AttributeLimits, attributeCondition, isAttributeParameter, NOT_ATTR, parseAttributeFilters } from './attribute-filters.ts'
import { type CursorPosition, decodeCursor, encodeCursor } from './cursor.ts'
import { toDatabaseError } from './database-errors.ts'
import type { Sql } from './db.ts'
import { QueryInvalidError } from './errors.ts'
import { type Level, Levels, normaliseLevel } from './levels.ts'
import { formatMicros, Limits } from './log-entry.ts'
import { budgetedRows, type LogRow, type LogView, logColumns, logView, RowLimits, timestampText } from './log-rows.ts'
import { parseRfc3339, parseTime, TIME_FORMAT_HINT } from './time-range.ts'

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
 * Each filter is written so that an index can answer it (see the index notes in schema.sql), and every
 * value is a bind parameter. Timestamps go in as RFC 3339 text, cast by PostgreSQL: a parameter the server
 * types as timestamptz would pass through postgres.js's Date serializer and lose its microseconds.
 */
export function searchConditions(sql: Sql, search: Search) {
  // Arrays go in as plain JS arrays: sql.array(['x']) as a new connection's first array was seen sent as
  // the bare text "x" (PostgreSQL: malformed array literal).
  const where = [sql`true`]
  if (search.service !== undefined) where.push(sql`service = ${search.service}`)
  if (search.levels) where.push(search.levels.length === 1 ? sql`level = ${search.levels[0]!}` : sql`level = any(${search.levels}::text[])`)
  if (search.fromMicros !== undefined) where.push(sql`timestamp >= ${formatMicros(search.fromMicros)}::text::timestamptz`)
  if (search.toMicros !== undefined) where.push(sql`timestamp <= ${formatMicros(search.toMicros)}::text::timestamptz`)
  if (search.host !== undefined) where.push(sql`host = ${search.host}`)
  if (search.traceId !== undefined) where.push(sql`trace_id = ${search.traceId}`)
  if (search.tags.length > 0) where.push(sql`tags @> ${search.tags}::text[]`)
  // Must match the index expression in schema.sql exactly, configuration included, or the index is not used.
  if (search.q !== undefined) where.push(sql`to_tsvector('simple', message) @@ websearch_to_tsquery('simple', ${search.q})`)
  for (const filter of search.attr ?? []) where.push(attributeCondition(sql, filter))
  if (search.cursor) {
    const { timestamp, partition, offset } = search.cursor
    // The row comparison is the exact "after this row" test; the plain timestamp bound lets partition
    // pruning and the (x, timestamp) indexes see it too.
    where.push(sql`timestamp <= ${timestamp}::text::timestamptz`)
    where.push(sql`(timestamp, kafka_partition, kafka_offset) < (${timestamp}::text::timestamptz, ${partition}::integer, ${offset}::text::bigint)`)
  }
  return where.reduce((all, condition) => sql`${all} and ${condition}`)
}

/**
 * The SQL for one page of a search (limit + 1 rows, to know whether more follow); exported for EXPLAIN
 * in tests. `sinceMicros` adds a lower time bound (see searchLogs).
 */
export function searchQuery(sql: Sql, search: Search, sinceMicros?: number) {
  const offset = (search.page - 1) * search.limit
  const since = sinceMicros === undefined ? sql`` : sql`and timestamp >= ${formatMicros(sinceMicros)}::text::timestamptz`
  return sql<LogRow[]>`
    select ${logColumns(sql)} from logs
    where ${searchConditions(sql, search)} ${since}
    order by logs.timestamp desc, logs.kafka_partition desc, logs.kafka_offset desc
    limit ${search.limit + 1} offset ${offset}`
}

/**
 * q, tags and attr.<path>=value are answered by GIN indexes, which cannot return rows in time order, and PostgreSQL's
 * estimates for them are poor: an absent tag or two words that never meet ("refused shipped") look like
 * 0.5 % of rows, so it walks the primary key newest first, evaluating to_tsvector on every row, and took
 * 58-74 s on 10M rows; a common phrase looks 30 times rarer than it is, so it reads every match through
 * the GIN index to sort them (0.5 s on 1M rows). So these searches always go through the GIN index
 * (ordered index scans turned off for the statement), over windows that bound the work: the newest
 * WINDOW_ROWS rows, then the last hour, day, and everything (straight to everything when the newest rows
 * hold no match at all). A window holding limit + 1 matches past the offset holds exactly the newest
 * matches overall, since everything outside it is older.
 */
const WINDOW_ROWS = 10_000
const WINDOWS_MICROS = [3_600e6, 86_400e6]

/** Runs `run` in a transaction whose plans must use bitmap scans (GIN, or btree ranges), never ordered or sequential scans. */
export async function withGinPlans<T>(sql: Sql, run: (tx: Sql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`set local enable_indexscan = off`
    await tx`set local enable_indexonlyscan = off`
    await tx`set local enable_seqscan = off`
    return run(tx as unknown as Sql)
  }) as Promise<T>
}

/** Timestamp of the WINDOW_ROWS-th newest row at or before `upper` (a primary-key walk), if there are that many. */
async function newestRowsBoundary(sql: Sql, upper: number | undefined): Promise<number | undefined> {
  const bound = upper === undefined ? sql`` : sql`where timestamp <= ${formatMicros(upper)}::text::timestamptz`
  const [row] = await sql<{ at: string }[]>`
    select ${timestampText(sql)} as at from logs ${bound}
    order by logs.timestamp desc offset ${WINDOW_ROWS} limit 1`
  return row ? parseRfc3339(row.at) : undefined
}

/** True when a filter only a GIN index answers well is present: q, tags, or an attribute equality. */
export function usesGinFilters(search: Search): boolean {
  const attributeEquality = search.attr?.some((filter) => !filter.negate && filter.value !== undefined) ?? false
  return search.q !== undefined || search.tags.length > 0 || attributeEquality
}

async function windowedRows(sql: Sql, search: Search, nowMicros: number): Promise<LogRow[]> {
  if (!usesGinFilters(search)) return searchQuery(sql, search)
  const upper = search.toMicros ?? (search.cursor ? parseRfc3339(search.cursor.timestamp) : undefined)
  const boundary = await newestRowsBoundary(sql, upper)
  return withGinPlans(sql, async (tx) => {
    if (boundary === undefined) return searchQuery(tx, search)
    const windows = [boundary, ...WINDOWS_MICROS.map((window) => (upper ?? nowMicros) - window)]
    let previous = Infinity
    for (const since of windows) {
      if (since >= previous) continue
      if (search.fromMicros !== undefined && search.fromMicros >= since) break
      previous = since
      const rows = await searchQuery(tx, search, since)
      if (rows.length > search.limit) return rows
      // Not one match in the newest rows: the matches are rare, and one look-up over everything (cheap
      // for rare terms) beats repeating the GIN look-ups for each wider window.
      if (rows.length === 0 && search.page === 1) break
    }
    return searchQuery(tx, search)
  })
}

/**
 * One page of logs matching `search`, newest first: at most search.limit logs and, past the first, at most
 * `pageBytes` of message and metadata (RowLimits); a page cut short by either says has_more, with a cursor.
 * A database that cannot answer now throws a retryable LogStreamError (DatabaseUnavailableError,
 * QueryTimeoutError): callers answer from the error alone.
 */
export async function searchLogs(
  sql: Sql,
  search: Search,
  nowMicros: number = Date.now() * 1000,
  pageBytes: number = RowLimits.pageBytes,
): Promise<SearchResult> {
  try {
    const rows = await windowedRows(sql, search, nowMicros)
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
    const rows = await traceQuery(sql, traceId)
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
