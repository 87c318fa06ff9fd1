import { contentKey } from './content-key.ts'
import { formatMicros } from './log-entry.ts'
import type { PendingRow } from './log-writer.ts'

/**
 * The columns the consumer writes a log into, and a batch's two text encodings for PostgreSQL: COPY's text
 * format (log-copy.ts) and one array literal per column for INSERT … SELECT FROM unnest (log-writer.ts).
 */
export const insertColumns = [
  'timestamp',
  'service',
  'level',
  'message',
  'metadata',
  'trace_id',
  'span_id',
  'host',
  'tags',
  'kafka_partition',
  'kafka_offset',
  'content_key',
] as const

const NEEDS_QUOTING = /[\\"]/g

/** One element of a PostgreSQL array literal, always quoted so commas, braces and spaces are data. */
function arrayElement(value: string): string {
  return `"${value.replace(NEEDS_QUOTING, '\\$&')}"`
}

function arrayLiteral(values: readonly (string | null)[]): string {
  let out = '{'
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ','
    const value = values[i]
    out += value === null ? 'NULL' : arrayElement(value!)
  }
  return `${out}}`
}

const orNull = (value: string) => (value === '' ? null : value)

/** The twelve column arrays of a batch, each as one array literal: postgres.js sends them as text as is. */
export function columnLiterals(rows: readonly PendingRow[]): string[] {
  const n = rows.length
  const ts = new Array<string>(n),
    service = new Array<string>(n),
    level = new Array<string>(n),
    message = new Array<string>(n)
  const metadata = new Array<string>(n),
    trace = new Array<string | null>(n),
    span = new Array<string | null>(n),
    host = new Array<string | null>(n)
  const tags = new Array<string>(n),
    partition = new Array<string>(n),
    offset = new Array<string>(n),
    key = new Array<string | null>(n)
  for (let i = 0; i < n; i++) {
    const { record } = rows[i]!
    ts[i] = formatMicros(record.timestampMicros)
    service[i] = record.service
    level[i] = record.level
    message[i] = record.message
    metadata[i] = record.metadata
    trace[i] = orNull(record.traceId)
    span[i] = orNull(record.spanId)
    host[i] = orNull(record.host)
    tags[i] = arrayLiteral(record.tags)
    partition[i] = String(rows[i]!.partition)
    offset[i] = String(rows[i]!.offset)
    key[i] = contentKey(record)
  }
  return [ts, service, level, message, metadata, trace, span, host, tags, partition, offset, key].map(arrayLiteral)
}

const COPY_SPECIAL = /[\\\t\n\r]/
const COPY_SPECIALS = /[\\\t\n\r]/g
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }
// Most fields hold nothing to escape, and testing for that costs less than a replace that finds nothing.
const copyText = (value: string) => (COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIALS, (char) => COPY_ESCAPES[char]!) : value)
const copyNullable = (value: string) => (value === '' ? '\\N' : copyText(value))

/** One row as a line of COPY's text format, its fields in the order of `insertColumns`. */
export function copyLine({ partition, offset, record: r }: PendingRow): string {
  const key = contentKey(r) ?? '\\N'
  return `${formatMicros(r.timestampMicros)}\t${copyText(r.service)}\t${r.level}\t${copyText(r.message)}\t${copyText(r.metadata)}\t${copyNullable(r.traceId)}\t${copyNullable(r.spanId)}\t${copyNullable(r.host)}\t${copyText(arrayLiteral(r.tags))}\t${partition}\t${offset}\t${key}\n`
}
