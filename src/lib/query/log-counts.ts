import type { Sql } from '../db.ts'
import { formatMicros } from '../log-entry.ts'
import type { Search } from '../log-search.ts'
import { searchConditions } from '../search-sql.ts'

export const MINUTE_MICROS = 60e6

/** A half-open time range [fromMicros, toMicros) in epoch microseconds; a side left out is unbounded. */
export interface Span {
  fromMicros?: number
  toMicros?: number
}

/**
 * Where counts come from: log_counts' whole `minutes`, plus logs' rows in `rows`, minus logs' rows in
 * `excluded` (the part of a counted minute that lies outside the range).
 */
export interface CountSources {
  minutes: Span[]
  rows: Span[]
  excluded: Span[]
}

/**
 * True when log_counts can answer `search`: it filters on nothing but service, level, host and time (a
 * cursor is a time-and-key bound that whole minutes cannot honour).
 */
export function countable(search: Search): boolean {
  return search.traceId === undefined && search.tags.length === 0 && search.q === undefined && (search.attr ?? []).length === 0 && !search.cursor
}

const floorMinute = (micros: number) => Math.floor(micros / MINUTE_MICROS) * MINUTE_MICROS
const ceilMinute = (micros: number) => Math.ceil(micros / MINUTE_MICROS) * MINUTE_MICROS
const before = (a: number | undefined, b: number | undefined) => a === undefined || b === undefined || a < b

function append(spans: Span[], span: Span): void {
  if (!before(span.fromMicros, span.toMicros)) return
  const last = spans.at(-1)
  if (last && last.toMicros !== undefined && last.toMicros === span.fromMicros) last.toMicros = span.toMicros
  else spans.push({ ...span })
}

/**
 * Splits consecutive spans (`parts`, each starting where the previous one ends: the buckets of a histogram,
 * or one range) into the whole minutes that lie inside one part, read from log_counts, and the minutes the
 * parts' edges cut, read from logs. A cut minute at either end of the whole range is read the cheaper way:
 * its own rows inside the range, or its count in log_counts less its rows outside the range (what lies
 * after `nowMicros` costs nothing: a range ending now reads almost no rows). Adjacent spans are merged.
 */
export function splitByMinute(parts: readonly Span[], nowMicros = Number.POSITIVE_INFINITY): CountSources {
  const sources: CountSources = { minutes: [], rows: [], excluded: [] }
  const rangeFrom = parts[0]?.fromMicros
  const rangeTo = parts.at(-1)?.toMicros
  const cut = (minute: number, inside: Required<Span>) => {
    const next = minute + MINUTE_MICROS
    const outside = [
      { fromMicros: minute, toMicros: inside.fromMicros },
      { fromMicros: inside.toMicros, toMicros: next },
    ].filter((span) => span.fromMicros < span.toMicros)
    const outsideTheRange = (inside.fromMicros === minute || inside.fromMicros === rangeFrom) && (inside.toMicros === next || inside.toMicros === rangeTo)
    const cost = (spans: Required<Span>[]) => spans.reduce((sum, span) => sum + Math.max(0, Math.min(span.toMicros, nowMicros) - span.fromMicros), 0)
    if (outsideTheRange && cost(outside) < cost([inside])) {
      append(sources.minutes, { fromMicros: minute, toMicros: next })
      for (const span of outside) append(sources.excluded, span)
    } else append(sources.rows, inside)
  }
  for (const { fromMicros, toMicros } of parts) {
    const first = fromMicros === undefined ? undefined : ceilMinute(fromMicros)
    const end = toMicros === undefined ? undefined : floorMinute(toMicros)
    if (!before(first, end)) {
      // Both ends are set and no whole minute lies between them: one or two cut minutes.
      for (let minute = floorMinute(fromMicros!); minute < toMicros!; minute += MINUTE_MICROS)
        cut(minute, { fromMicros: Math.max(fromMicros!, minute), toMicros: Math.min(toMicros!, minute + MINUTE_MICROS) })
      continue
    }
    if (fromMicros !== undefined && fromMicros < first!) cut(first! - MINUTE_MICROS, { fromMicros, toMicros: first! })
    append(sources.minutes, { fromMicros: first, toMicros: end })
    if (toMicros !== undefined && end! < toMicros) cut(end!, { fromMicros: end!, toMicros })
  }
  return sources
}

/** `column` within any of `spans` (false for none). Times go in typed, as in searchConditions. */
export function spansCondition(sql: Sql, column: 'minute' | 'timestamp', spans: readonly Span[]) {
  if (spans.length === 0) return sql`false`
  const one = ({ fromMicros, toMicros }: Span) => {
    const lower = fromMicros === undefined ? sql`true` : sql`${sql(column)} >= ${formatMicros(fromMicros)}::timestamptz`
    const upper = toMicros === undefined ? sql`true` : sql`${sql(column)} < ${formatMicros(toMicros)}::timestamptz`
    return sql`(${lower} and ${upper})`
  }
  return spans.map(one).reduce((all, condition) => sql`${all} or ${condition}`)
}

/**
 * The logs matching `search`'s filters within `spans` instead of its time range, as a FROM item named logs:
 * one primary-key range scan per span, the other filters applied to its rows. An OR of ranges would be one
 * filter run on every row of the whole range; filters beside the span would let the planner, without
 * statistics, AND in a bitmap of every ERROR of the day for a minute's rows. `offset 0` keeps both
 * subqueries from being flattened. The spans may lie outside the search's range (CountSources.excluded);
 * the range they cover together is also given as constants, so that partitions outside it are pruned when
 * the statement is planned.
 */
export function logsWithin(sql: Sql, search: Search, spans: readonly Span[]) {
  if (spans.length === 0) return sql`(select * from logs where false) as logs`
  const lows = spans.map((span) => (span.fromMicros === undefined ? '-infinity' : formatMicros(span.fromMicros)))
  const highs = spans.map((span) => (span.toMicros === undefined ? 'infinity' : formatMicros(span.toMicros)))
  const bounded = (values: (number | undefined)[]) => (values.length > 0 && values.every((value) => value !== undefined) ? (values as number[]) : undefined)
  const first = bounded(spans.map((span) => span.fromMicros))
  const last = bounded(spans.map((span) => span.toMicros))
  const covered: Search = { tags: [], limit: search.limit, page: search.page, fromMicros: first && Math.min(...first), toMicros: last && Math.max(...last) - 1 }
  const filters: Search = { ...search, fromMicros: undefined, toMicros: undefined }
  return sql`unnest(${lows}::text[]::timestamptz[], ${highs}::text[]::timestamptz[]) as span (low, high)
    cross join lateral (
      select * from (select * from logs where ${searchConditions(sql, covered)} and timestamp >= span.low and timestamp < span.high offset 0) as spanned
      where ${searchConditions(sql, filters)}
    ) as logs`
}

/** The number of logs matching `search`: from log_counts and the cut minutes' rows when `counts` is given, else from every row. */
export function countQuery(sql: Sql, search: Search, counts: CountSources | undefined) {
  if (!counts) return sql<{ total: number }[]>`select count(*)::float8 as total from logs where ${searchConditions(sql, search)}`
  return sql<{ total: number }[]>`
    select ((select count(*) from ${logsWithin(sql, search, counts.rows)})
      - (select count(*) from ${logsWithin(sql, search, counts.excluded)})
      + (select coalesce(sum(n), 0) from log_counts where ${countFilters(sql, search)} and (${spansCondition(sql, 'minute', counts.minutes)})))::float8 as total`
}

/** The filters of a countable search on log_counts: the same values as searchConditions puts on logs. */
export function countFilters(sql: Sql, search: Search) {
  const where = [sql`n <> 0`]
  if (search.service !== undefined) where.push(sql`service = ${search.service}`)
  if (search.levels) where.push(search.levels.length === 1 ? sql`level = ${search.levels[0]!}` : sql`level = any(${search.levels}::text[])`)
  if (search.host !== undefined) where.push(sql`host = ${search.host}`)
  return where.reduce((all, condition) => sql`${all} and ${condition}`)
}

const ready = new WeakMap<Sql, true>()

/**
 * True once the database counts logs in log_counts (schema.sql's trigger is on logs). The schema is applied
 * by the consumer and init at start, not by the query service: until then (an upgrade where the query
 * service starts first, a database prepared by an older version) every count is read from rows. A yes is
 * remembered per connection pool; a no is asked again next time.
 */
export async function countsReady(sql: Sql): Promise<boolean> {
  if (ready.has(sql)) return true
  const [row] = await sql<{ ready: boolean }[]>`
    select exists (select 1 from pg_trigger where tgrelid = to_regclass('logs') and tgname = 'logs_counted_insert') as ready`
  if (row?.ready) ready.set(sql, true)
  return row?.ready ?? false
}
