import type { CursorPosition } from '../cursor.ts'
import { toDatabaseError } from '../database-errors.ts'
import type { Sql } from '../db.ts'
import { NotFoundError, QueryInvalidError } from '../errors.ts'
import { type LogId, logIdText, parseLogId } from '../log-id.ts'
import { budgetedRows, type LogRow, type LogView, logColumns, logView, RowLimits, timestampText } from '../log-rows.ts'
import { parseSearch, type Search, searchConditions, searchLogs } from '../log-search.ts'
import { withPlan } from '../search-plans.ts'
import { parseRfc3339 } from '../time-range.ts'

export { type LogId, parseLogId }

export const ContextLimits = {
  default: 20,
  max: 200,
} as const

/** The parameters /query/{id}/context reads; it takes no other (no filter: neighbours are by service, and host). */
export const ContextParameters = ['before', 'after', 'same_host'] as const

export interface ContextParams {
  before: number
  after: number
  sameHost: boolean
}

export interface ContextResult {
  log: LogView
  before: LogView[]
  after: LogView[]
  /** A side holds fewer logs than asked because they did not fit its byte budget. */
  truncated: boolean
}

function count(params: URLSearchParams, name: 'before' | 'after'): number {
  const raw = params.get(name)?.trim() ?? ''
  if (raw === '') return ContextLimits.default
  const value = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN
  if (!(value >= 0 && value <= ContextLimits.max))
    throw new QueryInvalidError(name, `${name}: must be a whole number from 0 to ${ContextLimits.max}; got ${JSON.stringify(raw).slice(0, 40)}`)
  return value
}

export function parseContextParams(params: URLSearchParams): ContextParams {
  for (const name of params.keys())
    if (!(ContextParameters as readonly string[]).includes(name))
      throw new QueryInvalidError(name, `unknown parameter ${JSON.stringify(name).slice(0, 80)}; known: ${ContextParameters.join(', ')}`)
  const sameHost = params.get('same_host')?.trim().toLowerCase() ?? ''
  if (!['', 'true', 'false'].includes(sameHost)) throw new QueryInvalidError('same_host', 'same_host: must be true or false')
  return { before: count(params, 'before'), after: count(params, 'after'), sameHost: sameHost === 'true' }
}

/** The position right after `position` in (timestamp, partition, offset) order: a cursor that lists `position` itself first. */
const successor = (position: CursorPosition): CursorPosition => ({ ...position, offset: (BigInt(position.offset) + 1n).toString() })

interface Target {
  timestamp: string
  service: string
  host: string | null
}

/**
 * An id carries the timestamp the primary key leads with: one probe of one partition's primary key. An id of
 * the older form does not, so every partition's primary key is read (a Merge Append of backward index scans
 * filtered on partition and offset); a recreated topic can repeat a (partition, offset): the newest row wins.
 */
export function targetQuery(sql: Sql, id: LogId) {
  const at = id.timestamp === undefined ? sql`` : sql`timestamp = ${id.timestamp}::timestamptz and`
  return sql<Target[]>`
    select ${timestampText(sql)} as timestamp, service, nullif(host, '') as host
    from logs
    where ${at} kafka_partition = ${id.partition}::integer and kafka_offset = ${id.offset}::text::bigint
    order by logs.timestamp desc
    limit 1`
}

/** Each side of a context holds at most half a page of bytes, so the whole answer is about one page. */
const SIDE_BYTES = RowLimits.pageBytes / 2

/**
 * The log `id` and up to `before` / `after` logs of the same service (and host) around it, oldest first, in
 * (timestamp, kafka_partition, kafka_offset) order. The reads share one snapshot, so a log arriving
 * meanwhile cannot shift a side. Each side keeps the logs nearest the log within SIDE_BYTES; `truncated`
 * says when a side holds fewer than asked for that reason.
 */
export async function logContext(sql: Sql, id: LogId, params: ContextParams): Promise<ContextResult> {
  try {
    return await sql.begin('isolation level repeatable read read only', async (tx) => {
      const db = tx as unknown as Sql
      const [target] = await targetQuery(db, id)
      if (!target) throw new NotFoundError(`no log with id ${logIdText(id)}`)
      if (params.sameHost && target.host === null) throw new QueryInvalidError('same_host', 'same_host: this log has no host to match')
      const position: CursorPosition = { timestamp: target.timestamp, partition: id.partition, offset: id.offset }
      const neighbours: Search = { ...parseSearch({}), service: target.service, host: params.sameHost ? (target.host ?? undefined) : undefined }

      // Newest first from the log itself: [log, ...before].
      const older = await searchLogs(db, { ...neighbours, limit: params.before + 1, cursor: successor(position) }, SIDE_BYTES)
      const [log, ...before] = older.logs
      if (!log) throw new NotFoundError(`no log with id ${logIdText(id)}`)

      // Both sides are newest-N shapes: ordered scans of (service, timestamp), whatever the statistics say.
      const newer = params.after === 0 ? [] : await withPlan(db, 'ordered', (planned) => newerQuery(planned, neighbours, position, params.after))
      const after = await budgetedRows(db, newer, SIDE_BYTES)
      const truncated = (before.length < params.before && older.hasMore) || after.fitted < newer.length
      return { log, before: before.reverse(), after: after.rows.map(logView), truncated }
    })
  } catch (error) {
    throw toDatabaseError(error, 'cannot look up the log context')
  }
}

/** Up to `count` logs of `neighbours` after `position`, nearest first. */
export function newerQuery(sql: Sql, neighbours: Search, position: CursorPosition, count: number) {
  return sql<LogRow[]>`
    select ${logColumns(sql)} from logs
    where ${searchConditions(sql, { ...neighbours, fromMicros: parseRfc3339(position.timestamp) })}
      and (timestamp, kafka_partition, kafka_offset) > (${position.timestamp}::timestamptz, ${position.partition}::integer, ${position.offset}::text::bigint)
    order by logs.timestamp, logs.kafka_partition, logs.kafka_offset
    limit ${count}`
}
