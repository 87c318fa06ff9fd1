import { attributeCondition } from './attribute-filters.ts'
import type { Sql } from './db.ts'
import { formatMicros } from './log-entry.ts'
import { type LogRow, logColumns } from './log-rows.ts'
import type { Search } from './log-search.ts'

/**
 * Each filter is written so that an index can answer it (see the index notes in schema.sql), and every
 * value is a bind parameter. Timestamps go in as RFC 3339 text with microseconds, typed timestamptz (see
 * db.ts types: sent as given, parsed once per statement).
 */
export function searchConditions(sql: Sql, search: Search) {
  // Arrays go in as plain JS arrays: sql.array(['x']) as a new connection's first array was seen sent as
  // the bare text "x" (PostgreSQL: malformed array literal).
  const where = [sql`true`]
  if (search.service !== undefined) where.push(sql`service = ${search.service}`)
  if (search.levels) where.push(search.levels.length === 1 ? sql`level = ${search.levels[0]!}` : sql`level = any(${search.levels}::text[])`)
  if (search.fromMicros !== undefined) where.push(sql`timestamp >= ${formatMicros(search.fromMicros)}::timestamptz`)
  if (search.toMicros !== undefined) where.push(sql`timestamp <= ${formatMicros(search.toMicros)}::timestamptz`)
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
    where.push(sql`timestamp <= ${timestamp}::timestamptz`)
    where.push(sql`(timestamp, kafka_partition, kafka_offset) < (${timestamp}::timestamptz, ${partition}::integer, ${offset}::text::bigint)`)
  }
  return where.reduce((all, condition) => sql`${all} and ${condition}`)
}

/**
 * The SQL for one page of a search (limit + 1 rows, to know whether more follow), the form of the ordered
 * shape (search-rows.ts); exported for EXPLAIN in tests.
 */
export function searchQuery(sql: Sql, search: Search) {
  const offset = (search.page - 1) * search.limit
  return sql<LogRow[]>`
    select ${logColumns(sql)} from logs
    where ${searchConditions(sql, search)}
    order by logs.timestamp desc, logs.kafka_partition desc, logs.kafka_offset desc
    limit ${search.limit + 1} offset ${offset}`
}
