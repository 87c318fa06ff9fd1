import { parseRfc3339 } from './time-range.ts'

/**
 * Where a newest-first listing stopped: the last row's primary key (timestamp, kafka_partition,
 * kafka_offset), which totally orders every log, so equal timestamps never repeat or skip a row and
 * logs that arrive later (newer) cannot shift the next page. Opaque to clients: base64url of a JSON array.
 */
export interface CursorPosition {
  /** RFC 3339 with microseconds, as PostgreSQL formatted it. */
  timestamp: string
  partition: number
  /** Decimal string: Kafka offsets are int64. */
  offset: string
}

const VERSION = 1
const MAX_CURSOR_CHARS = 200
const OFFSET = /^(0|[1-9]\d{0,18})$/
const INT64_MAX = 9_223_372_036_854_775_807n

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([VERSION, position.timestamp, position.partition, position.offset])).toString('base64url')
}

/** The position a cursor names, or undefined if it is not one this API issued. */
export function decodeCursor(cursor: string): CursorPosition | undefined {
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || value.length !== 4 || value[0] !== VERSION) return undefined
  const [, timestamp, partition, offset] = value as unknown[]
  if (typeof timestamp !== 'string' || parseRfc3339(timestamp) === undefined) return undefined
  if (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 0 || partition > 2_147_483_647) return undefined
  if (typeof offset !== 'string' || !OFFSET.test(offset) || BigInt(offset) > INT64_MAX) return undefined
  return { timestamp, partition, offset }
}
