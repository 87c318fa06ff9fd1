import type { Sql } from './db.ts'
import { noteLargeRead } from './large-reads.ts'
import type { Level } from './levels.ts'
import { formatLogId } from './log-id.ts'

/**
 * Reading stored logs within a byte budget. A log may carry up to 1 MiB, so a row limit alone does not
 * bound a response: a thousand-row page of large logs is a gigabyte. Every read that returns logs selects
 * `logColumns`, which carries the message and metadata only of rows up to `inlineBytes`, with every row's
 * size; the caller keeps the rows that fit its budget (`fitBudget`) and reads the content of the large ones
 * among them by primary key (`withContent`). The first read is then at most (rows × inlineBytes), the
 * second at most the budget.
 */
export const RowLimits = {
  /** Rows whose message and metadata JSON together are at most this many bytes come with the first read. */
  inlineBytes: 4096,
  /**
   * The message and metadata bytes of one page: a /query page, a trace look-up, each side of a context,
   * one export batch. A page always holds at least one log, so paging always moves on.
   */
  pageBytes: 4 * 1024 * 1024,
} as const

/** One log as the API returns it. Absent trace_id, span_id and host are null; metadata is an object. */
export interface LogView {
  id: string
  timestamp: string
  service: string
  level: Level
  message: string
  metadata: Record<string, unknown>
  trace_id: string | null
  span_id: string | null
  host: string | null
  tags: string[]
  ingested_at: string
}

/** A row as logColumns reads it. message and metadata (JSON text) are null when the row is larger than inlineBytes. */
export interface LogRow {
  timestamp: string
  service: string
  level: Level
  message: string | null
  metadata: string | null
  /** Bytes of the message and of the metadata as JSON text. */
  bytes: number
  trace_id: string | null
  span_id: string | null
  host: string | null
  tags: string[]
  ingested_at: string
  kafka_partition: number
  kafka_offset: bigint
}

/** A row whose message and metadata have been read. */
export type FullLogRow = LogRow & { message: string; metadata: string }

/** The same text in every statement that reads a timestamp, so positions compare equal as strings. */
export const timestampText = (sql: Sql, column = 'timestamp') => sql`to_char(${sql(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/**
 * Timestamps are formatted by PostgreSQL so their microseconds survive (a JS Date keeps milliseconds).
 * The text column is named `timestamp` too, so ORDER BY must say logs.timestamp: a bare name there means
 * the output column, which would sort text and rule out every index. octet_length of a text column reads
 * its stored length without decompressing it. Empty strings from any other writer read as null, the same
 * as absent values.
 */
export const logColumns = (sql: Sql) => sql`
  ${timestampText(sql)} as timestamp, service, level,
  case when octet_length(message) + octet_length(metadata::text) <= ${RowLimits.inlineBytes}::integer then message end as message,
  case when octet_length(message) + octet_length(metadata::text) <= ${RowLimits.inlineBytes}::integer then metadata::text end as metadata,
  octet_length(message) + octet_length(metadata::text) as bytes,
  nullif(trace_id, '') as trace_id, nullif(span_id, '') as span_id, nullif(host, '') as host, tags,
  ${timestampText(sql, 'ingested_at')} as ingested_at,
  kafka_partition, kafka_offset`

/** How many of `rows`, in order, fit in `budget` bytes: at least one. */
export function fitBudget(rows: readonly { bytes: number }[], budget: number = RowLimits.pageBytes): number {
  let used = 0
  for (let index = 0; index < rows.length; index++) {
    used += rows[index]!.bytes
    if (used > budget && index > 0) return index
  }
  return rows.length
}

const keyOf = (row: { timestamp: string; kafka_partition: number; kafka_offset: bigint }) => `${row.timestamp} ${row.kafka_partition} ${row.kafka_offset}`

/**
 * `rows` with the message and metadata of the large ones read by primary key, in one statement on `sql`
 * (inside the caller's transaction, if it has one). A row that is gone by then (its partition dropped by
 * retention between the two reads) is left out.
 */
export async function withContent(sql: Sql, rows: readonly LogRow[]): Promise<FullLogRow[]> {
  const large = rows.filter((row) => row.message === null)
  if (large.length === 0) return rows as FullLogRow[]
  const content = await sql<{ timestamp: string; kafka_partition: number; kafka_offset: bigint; message: string; metadata: string }[]>`
    select ${timestampText(sql)} as timestamp, kafka_partition, kafka_offset, message, metadata::text as metadata
    from logs
    where (timestamp, kafka_partition, kafka_offset) in (
      select * from unnest(
        ${large.map((row) => row.timestamp)}::text[]::timestamptz[],
        ${large.map((row) => row.kafka_partition)}::integer[],
        ${large.map((row) => row.kafka_offset.toString())}::text[]::bigint[]))`
  noteLargeRead(large.reduce((sum, row) => sum + row.bytes, 0))
  const byKey = new Map(content.map((row) => [keyOf(row), row]))
  const full: FullLogRow[] = []
  for (const row of rows) {
    const read = row.message === null ? byKey.get(keyOf(row)) : row
    if (read) full.push({ ...row, message: read.message as string, metadata: read.metadata as string })
  }
  return full
}

/** The rows of `rows` that fit the budget, with their content: what a page of logs returns. */
export async function budgetedRows(sql: Sql, rows: readonly LogRow[], budget: number = RowLimits.pageBytes): Promise<{ rows: FullLogRow[]; fitted: number }> {
  const fitted = fitBudget(rows, budget)
  return { rows: await withContent(sql, rows.slice(0, fitted)), fitted }
}

export function logView(row: FullLogRow): LogView {
  return {
    id: formatLogId(row),
    timestamp: row.timestamp,
    service: row.service,
    level: row.level,
    message: row.message,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    trace_id: row.trace_id,
    span_id: row.span_id,
    host: row.host,
    tags: row.tags,
    ingested_at: row.ingested_at,
  }
}
