import { toDatabaseError } from '../database-errors.ts'
import type { Sql } from '../db.ts'
import { asLogStreamError, QueryInvalidError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { type FullLogRow, fitBudget, type LogRow, logColumns, RowLimits, withContent } from '../log-rows.ts'
import { type Search, type SearchInput, searchConditions, searchInput, usesGinFilters, withGinPlans } from '../log-search.ts'
import { csvRecord } from './csv.ts'

export const ExportLimits = {
  limitDefault: 100_000,
  limitMax: 1_000_000,
  /**
   * Rows per FETCH: the most rows the process holds for one export at a time (one batch read, one queued),
   * each batch also cut to RowLimits.pageBytes of message and metadata.
   */
  batchRows: 1000,
  /**
   * The statement_timeout of each FETCH. The first one of a search that sorts its matches (q, tags,
   * attr.<path>=value: see usesGinFilters) sorts them all, which can outlast the query API's
   * QUERY_TIMEOUT_MS on a million matches.
   */
  statementTimeoutMs: 300_000,
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

/** Column order of the CSV, and key order of each NDJSON object. */
export const ExportColumns = ['timestamp', 'service', 'level', 'host', 'trace_id', 'span_id', 'message', 'tags', 'metadata'] as const

/** An exported log: metadata stays the JSON text PostgreSQL wrote, so a line is written without re-parsing it. */
export type ExportRow = Pick<FullLogRow, (typeof ExportColumns)[number]>

/** Newest first, the same filters as /query (searchConditions), at most `limit` rows. */
export function exportQuery(sql: Sql, search: Search, limit: number) {
  return sql<LogRow[]>`
    select ${logColumns(sql)}
    from logs
    where ${searchConditions(sql, search)}
    order by logs.timestamp desc, logs.kafka_partition desc, logs.kafka_offset desc
    limit ${limit}`
}

const json = JSON.stringify

export function ndjsonLine(row: ExportRow): string {
  return `{"timestamp":${json(row.timestamp)},"service":${json(row.service)},"level":${json(row.level)},"host":${json(row.host)},"trace_id":${json(row.trace_id)},"span_id":${json(row.span_id)},"message":${json(row.message)},"tags":${json(row.tags)},"metadata":${row.metadata}}\n`
}

export function csvLine(row: ExportRow): string {
  return csvRecord(ExportColumns.map((column) => (column === 'tags' ? json(row.tags) : row[column])))
}

const CURSOR = 'logstream_export'

/**
 * The rows of `search`, batch by batch, through a cursor declared in `tx` (a transaction): each FETCH is a
 * statement of its own, so the content of the large rows of a batch is read between two of them, in the
 * same snapshot, and a pause between fetches (a slow reader) is no statement's time. A batch holds at most
 * `batchRows` rows and RowLimits.pageBytes of message and metadata (a fuller FETCH is handed out in parts).
 */
export async function* exportBatches(tx: Sql, search: Search, limit: number, batchRows: number = ExportLimits.batchRows): AsyncGenerator<ExportRow[]> {
  await tx`select set_config('statement_timeout', ${String(ExportLimits.statementTimeoutMs)}, true)`
  await tx`declare ${tx(CURSOR)} no scroll cursor for ${exportQuery(tx, search, limit)}`
  for (;;) {
    // FETCH takes no bind parameter for its count; batchRows is a number of ours.
    const rows = await tx.unsafe<LogRow[]>(`fetch ${Math.trunc(batchRows)} from ${CURSOR}`)
    for (let start = 0; start < rows.length; ) {
      const fitted = fitBudget(rows.slice(start), RowLimits.pageBytes)
      yield await withContent(tx, rows.slice(start, start + fitted))
      start += fitted
    }
    if (rows.length < batchRows) return
  }
}

export interface ExportOptions {
  format: ExportFormat
  limit: number
  batchRows?: number
  log?: Logger
}

/**
 * Gives each batch to the stream and resolves true once the reader wants more, false once it has gone
 * away (the producer then stops).
 */
export type Emit = (rows: readonly ExportRow[]) => Promise<boolean>

/**
 * A byte stream of the lines of the batches `produce` emits, holding one batch at a time: `emit` resolves
 * only when the reader has taken the previous one, so memory does not grow with the export. Resolves once
 * the first batch (or the whole, smaller, result) is in hand: a failure before then rejects, classified by
 * toDatabaseError, so the route answers 503 from the error alone. A failure after that cannot change the
 * status any more: NDJSON gets a last line `{"error":code,"message":…}`; CSV is aborted (Bun resets the
 * connection mid-response: curl exits 56, `Connection reset by peer`).
 */
export function streamExport(produce: (emit: Emit) => Promise<void>, format: ExportFormat, log?: Logger): Promise<ReadableStream<Uint8Array>> {
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
  const first = Promise.withResolvers<ReadableStream<Uint8Array>>()
  let started = false
  const emit: Emit = async (rows) => {
    if (cancelled) return false
    controller.enqueue(encoder.encode(rows.map(line).join('')))
    if (!started) {
      started = true
      first.resolve(stream)
    }
    while (!cancelled && (controller.desiredSize ?? 0) <= 0) {
      demand = Promise.withResolvers<void>()
      await demand.promise
    }
    return !cancelled
  }
  produce(emit).then(
    () => {
      if (!cancelled) controller.close()
      first.resolve(stream)
    },
    (error) => {
      const wasCancelled = cancelled
      cancelled = true
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

/**
 * Streams the rows of `search` (exportBatches in a read-only transaction) as NDJSON or CSV (streamExport).
 * A reader that cancels (a client that disconnects) ends the transaction, which closes the cursor.
 */
export function openExport(sql: Sql, search: Search, options: ExportOptions): Promise<ReadableStream<Uint8Array>> {
  const { format, limit, batchRows, log } = options
  const inTransaction = async (tx: Sql, emit: Emit) => {
    for await (const rows of exportBatches(tx, search, limit, batchRows)) if (!(await emit(rows))) return
  }
  // q, tags and attr.<path>=value are answered by their GIN indexes, never by walking the table newest first:
  // the same rule as /query (usesGinFilters).
  return streamExport(
    (emit) =>
      usesGinFilters(search)
        ? withGinPlans(sql, (tx) => inTransaction(tx, emit))
        : (sql.begin('read only', (tx) => inTransaction(tx as unknown as Sql, emit)) as Promise<void>),
    format,
    log,
  )
}
