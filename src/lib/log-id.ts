import { QueryInvalidError } from './errors.ts'
import { parseRfc3339 } from './time-range.ts'

/**
 * A log's id, an opaque string to clients: "<kafka partition>-<kafka offset>-<UTC time as 20 digits>",
 * e.g. 2-81723-20261127162547094000. The time makes a look-up by id one primary-key probe (the key leads
 * with the timestamp); without it every partition's primary key had to be read. Ids of the older form
 * "<partition>-<offset>" are still accepted (bookmarked explorer links), at that cost. The time comes last
 * so that code reading the first two fields of either form keeps working.
 */
export interface LogId {
  /** RFC 3339 text with microseconds, as the id carries it; absent in an id of the older form. */
  timestamp?: string
  partition: number
  /** Decimal string: Kafka offsets are int64. */
  offset: string
}

const LOG_ID = /^(0|[1-9]\d{0,9})-(0|[1-9]\d{0,18})(?:-(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{6}))?$/
const INT32_MAX = 2_147_483_647
const INT64_MAX = 9_223_372_036_854_775_807n

/** The id of a row read with timestampText (YYYY-MM-DDTHH:MI:SS.ffffffZ). */
export const formatLogId = (row: { timestamp: string; kafka_partition: number; kafka_offset: bigint }): string =>
  `${row.kafka_partition}-${row.kafka_offset}-${row.timestamp.replace(/\D/g, '')}`

/** `id` as text again, in the form it was given. */
export const logIdText = (id: LogId): string => `${id.partition}-${id.offset}${id.timestamp === undefined ? '' : `-${id.timestamp.replace(/\D/g, '')}`}`

/** A log id as formatLogId makes it, or of the older form; else a QueryInvalidError naming `id`. */
export function parseLogId(value: string): LogId {
  const match = LOG_ID.exec(value)
  const [, partition = '', offset = '', year, month, day, hour, minute, second, micros] = match ?? []
  const timestamp = year === undefined ? undefined : `${year}-${month}-${day}T${hour}:${minute}:${second}.${micros}Z`
  // The largest offset is refused too: the context look-up needs the position just after it.
  if (!match || Number(partition) > INT32_MAX || BigInt(offset) >= INT64_MAX || (timestamp !== undefined && parseRfc3339(timestamp) === undefined))
    throw new QueryInvalidError('id', `id: ${JSON.stringify(value).slice(0, 60)} is not a log id; use the id of a log from /query`)
  return { ...(timestamp === undefined ? {} : { timestamp }), partition: Number(partition), offset }
}
