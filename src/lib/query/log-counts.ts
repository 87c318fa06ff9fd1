import type { Sql } from '../db.ts'
import { formatMicros } from '../log-entry.ts'
import type { Search } from '../log-search.ts'

export const MINUTE_MICROS = 60e6

/** A half-open time range [fromMicros, toMicros) in epoch microseconds; a side left out is unbounded. */
export interface Span {
  fromMicros?: number
  toMicros?: number
}

/** Where counts come from: whole minutes from log_counts, the rest of the range from logs' rows. */
export interface CountSources {
  minutes: Span[]
  rows: Span[]
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
 * or one range) into the whole minutes that lie inside one part, to be read from log_counts, and the partial
 * minutes at the parts' edges, to be read from logs. Adjacent spans of the same source are merged.
 */
export function splitByMinute(parts: readonly Span[]): CountSources {
  const sources: CountSources = { minutes: [], rows: [] }
  for (const { fromMicros, toMicros } of parts) {
    const first = fromMicros === undefined ? undefined : ceilMinute(fromMicros)
    const end = toMicros === undefined ? undefined : floorMinute(toMicros)
    if (!before(first, end)) {
      append(sources.rows, { fromMicros, toMicros })
      continue
    }
    if (fromMicros !== undefined) append(sources.rows, { fromMicros, toMicros: first })
    append(sources.minutes, { fromMicros: first, toMicros: end })
    if (toMicros !== undefined) append(sources.rows, { fromMicros: end, toMicros })
  }
  return sources
}

/** `column` within any of `spans` (false for none). Times go in as RFC 3339 text, as in searchConditions. */
export function spansCondition(sql: Sql, column: 'minute' | 'timestamp', spans: readonly Span[]) {
  if (spans.length === 0) return sql`false`
  const one = ({ fromMicros, toMicros }: Span) => {
    const lower = fromMicros === undefined ? sql`true` : sql`${sql(column)} >= ${formatMicros(fromMicros)}::text::timestamptz`
    const upper = toMicros === undefined ? sql`true` : sql`${sql(column)} < ${formatMicros(toMicros)}::text::timestamptz`
    return sql`(${lower} and ${upper})`
  }
  return spans.map(one).reduce((all, condition) => sql`${all} or ${condition}`)
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
