import { toDatabaseError } from '../database-errors.ts'
import type { Sql } from '../db.ts'
import { asLogStreamError, QueryInvalidError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { type Search, type SearchInput, searchConditions, searchInput, usesGinFilters, withGinPlans } from '../log-search.ts'
import { csvRecord } from './csv.ts'

export const ExportLimits = {
  limitDefault: 100_000,
  limitMax: 1_000_000,
  /** Rows per cursor fetch: the most rows the process holds for one export at a time (one batch read, one queued). */
  batchRows: 1000,
  /**
   * The export's own statement_timeout. The statement lasts as long as the client takes to read it, and
   * PostgreSQL counts the pauses between cursor fetches too: under the query API's QUERY_TIMEOUT_MS (10 s)
   * an export to a slow reader was cancelled part-way. 30 minutes carries 1M rows to a reader at ~200 kB/s.
   */
  statementTimeoutMs: 1_800_000,
} as const

// biome-ignore format: a table of formats
export const ExportFormats = {
  ndjson: { contentType: 'application/x-ndjson', extension: 'ndjson' },
  csv:    { contentType: 'text/csv; charset=utf-8', extension: 'csv' },
} as const
export type ExportFormat = keyof typeof ExportFormats

/** The parameters /export reads itself; every other one goes to parseSearch. */
export const ExportParameters = ['format', 'limit'] as const

export interface ExportParams {
  format: ExportFormat
  limit: number
  /** The remaining parameters, for parseSearch. */
  search: SearchInput
}

const WHOLE_NUMBER = /^\d{1,10}$/

/** Splits a request's parameters into /export's own (validated) and the filter, which parseSearch validates. */
export function parseExportParams(params: URLSearchParams): ExportParams {
  const format = params.get('format')?.trim().toLowerCase() || 'ndjson'
  if (!(format in ExportFormats))
    throw new QueryInvalidError('format', `format: must be one of ${Object.keys(ExportFormats).join(', ')}; got ${JSON.stringify(format).slice(0, 40)}`)
  const rawLimit = params.get('limit')?.trim() ?? ''
  const limit = rawLimit === '' ? ExportLimits.limitDefault : WHOLE_NUMBER.test(rawLimit) ? Number(rawLimit) : NaN
  if (!Number.isInteger(limit) || limit < 1 || limit > ExportLimits.limitMax)
    throw new QueryInvalidError('limit', `limit: must be a whole number from 1 to ${ExportLimits.limitMax}; got ${JSON.stringify(rawLimit).slice(0, 40)}`)
  if (params.has('page')) throw new QueryInvalidError('page', 'page: an export has no pages; it streams up to limit rows (start later with cursor)')
  // searchInput keeps repeated tags and attr.* values, as /query reads them.
  const search = searchInput(params)
  for (const name of ExportParameters) delete search[name]
  return { format: format as ExportFormat, limit, search }
}

/** `logs-20261127T120736Z.csv`: no characters a file system or a Content-Disposition header would object to. */
export function exportFilename(format: ExportFormat, now = new Date()): string {
  return `logs-${now.toISOString().replaceAll(/[-:]|\.\d+/g, '')}.${ExportFormats[format].extension}`
}

export interface ExportRow {
  timestamp: string
  service: string
  level: string
  host: string | null
  trace_id: string | null
  span_id: string | null
  message: string
  /** JSON text of the tags array, as PostgreSQL writes it. */
  tags: string
  /** JSON text of the metadata object. */
  metadata: string
}

/** Column order of the CSV, and key order of each NDJSON object. */
export const ExportColumns = ['timestamp', 'service', 'level', 'host', 'trace_id', 'span_id', 'message', 'tags', 'metadata'] as const

/**
 * Newest first, the same filters as /query (searchConditions), at most `limit` rows. tags and metadata come
 * as JSON text, so a line is written without parsing and re-serialising them.
 */
export function exportQuery(sql: Sql, search: Search, limit: number) {
  return sql<ExportRow[]>`
    select to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as timestamp,
      service, level, nullif(host, '') as host, nullif(trace_id, '') as trace_id, nullif(span_id, '') as span_id,
      message, to_json(tags)::text as tags, metadata::text as metadata
    from logs
    where ${searchConditions(sql, search)}
    order by logs.timestamp desc, logs.kafka_partition desc, logs.kafka_offset desc
    limit ${limit}`
}

const json = JSON.stringify

export function ndjsonLine(row: ExportRow): string {
  return `{"timestamp":${json(row.timestamp)},"service":${json(row.service)},"level":${json(row.level)},"host":${json(row.host)},"trace_id":${json(row.trace_id)},"span_id":${json(row.span_id)},"message":${json(row.message)},"tags":${row.tags},"metadata":${row.metadata}}\n`
}

export function csvLine(row: ExportRow): string {
  return csvRecord(ExportColumns.map((column) => row[column]))
}

export interface ExportOptions {
  format: ExportFormat
  limit: number
  batchRows?: number
  log?: Logger
}

/**
 * Streams the rows of `search` through a postgres.js cursor, `batchRows` at a time, fetching the next batch
 * only when the reader has taken the previous one (the stream holds one batch), so memory does not grow
 * with the export. Resolves once the first batch (or the whole, smaller, result) is in hand: a failure
 * before then rejects, classified by toDatabaseError, so the route answers 503 from the error alone. A
 * failure after that cannot change the status any more: NDJSON gets a last line
 * `{"error":code,"message":…}`; CSV is aborted (Bun resets the connection mid-response: curl exits 56,
 * `Connection reset by peer`). A reader that cancels (a client that disconnects)
 * closes the cursor: the portal is closed and the query stops.
 */
export function openExport(sql: Sql, search: Search, options: ExportOptions): Promise<ReadableStream<Uint8Array>> {
  const { format, limit, batchRows = ExportLimits.batchRows, log } = options
  const encoder = new TextEncoder()
  const line = format === 'csv' ? csvLine : ndjsonLine
  let controller!: ReadableStreamDefaultController<Uint8Array>
  let cancelled = false
  let demand: PromiseWithResolvers<void> | undefined
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
        if (format === 'csv') controller.enqueue(encoder.encode(csvRecord(ExportColumns)))
      },
      pull() {
        demand?.resolve()
      },
      cancel() {
        cancelled = true
        demand?.resolve()
      },
    },
    { highWaterMark: 1 },
  )
  const waitForReader = async () => {
    while (!cancelled && (controller.desiredSize ?? 0) <= 0) {
      demand = Promise.withResolvers<void>()
      await demand.promise
    }
  }

  const first = Promise.withResolvers<ReadableStream<Uint8Array>>()
  let started = false
  const read = (tx: Sql) =>
    exportQuery(tx, search, limit).cursor(batchRows, async (rows) => {
      if (cancelled) return sql.CLOSE
      controller.enqueue(encoder.encode(rows.map(line).join('')))
      if (!started) {
        started = true
        first.resolve(stream)
      }
      await waitForReader()
      if (cancelled) return sql.CLOSE
    })
  const inTransaction = async (tx: Sql) => {
    await tx`select set_config('statement_timeout', ${String(ExportLimits.statementTimeoutMs)}, true)`
    await read(tx)
  }
  // q, tags and attr.<path>=value are answered by their GIN indexes, never by walking the table newest first:
  // the same rule as /query (usesGinFilters).
  const run = usesGinFilters(search) ? withGinPlans(sql, inTransaction) : sql.begin('read only', (tx) => inTransaction(tx as unknown as Sql))
  Promise.resolve(run).then(
    () => {
      if (!cancelled) controller.close()
      first.resolve(stream)
    },
    (error) => {
      // A batch callback may still be waiting for the reader; let it return, or the driver waits on it for ever.
      const wasCancelled = cancelled
      cancelled = true
      demand?.resolve()
      const failure = toDatabaseError(error, 'cannot export logs')
      if (!started) return first.reject(failure)
      if (wasCancelled) return
      const known = asLogStreamError(failure)
      log?.warn('query.export.failed', { error: known.code === 'INTERNAL' ? error : known })
      if (format === 'ndjson') {
        controller.enqueue(encoder.encode(`${json({ error: known.code, message: known.message })}\n`))
        controller.close()
      } else controller.error(known)
    },
  )
  return first.promise
}
