import { decodeLogEntry } from './decode-log-entry.ts'
import { UndecodableMessageError } from './errors.ts'
import { type LogEntryInput, type LogRecord, validateEntry } from './log-entry.ts'
import { LogEntryType as LogEntry } from './proto.ts'

/**
 * Kafka values are protobuf `logstream.LogEntry` messages (proto/logs.proto), already validated and
 * normalised by the ingest service: compact, schema-checked, and readable by any protobuf consumer.
 */
export function encodeLogRecord(record: LogRecord): Uint8Array {
  const seconds = Math.floor(record.timestampMicros / 1_000_000)
  const nanos = (record.timestampMicros - seconds * 1_000_000) * 1000
  return LogEntry.encode({
    timestamp: { seconds, nanos },
    service: record.service,
    level: record.level,
    message: record.message,
    metadata: record.metadata,
    trace_id: record.traceId,
    span_id: record.spanId,
    host: record.host,
    tags: record.tags,
    timestamp_from_server: record.timestampFromServer === true,
  }).finish()
}

// LogEntry.timestamp (field 1, length-delimited), Timestamp.seconds (1, varint), Timestamp.nanos (2, varint),
// and LogEntry.timestamp_from_server (10, varint) set to true.
const TIMESTAMP_TAG = 0x0a
const SECONDS_TAG = 0x08
const NANOS_TAG = 0x10
const FROM_SERVER = [0x50, 0x01] as const

function varintLength(value: number): number {
  let length = 1
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) length++
  return length
}

// Division rather than shifts: seconds pass 2^31 in 2038 and bitwise operators work on 32 bits.
function writeVarint(target: Uint8Array, at: number, value: number): number {
  let rest = value
  let position = at
  while (rest >= 0x80) {
    target[position++] = (rest % 0x80) | 0x80
    rest = Math.floor(rest / 0x80)
  }
  target[position++] = rest
  return position
}

/**
 * A client's LogEntry `bytes` that hold no timestamp, followed by the server's time (`timestampMicros`, not
 * before 1970) and timestamp_from_server = true. A protobuf decoder reads fields in any order, the last
 * value of a scalar winning, so this decodes as encodeLogRecord of the same record would, without
 * encoding every field again.
 */
export function withServerTimestamp(bytes: Uint8Array, timestampMicros: number): Buffer {
  const seconds = Math.floor(timestampMicros / 1_000_000)
  const nanos = (timestampMicros - seconds * 1_000_000) * 1000
  const timestampLength = 1 + varintLength(seconds) + 1 + varintLength(nanos)
  const value = Buffer.allocUnsafe(bytes.length + 2 + timestampLength + FROM_SERVER.length)
  value.set(bytes, 0)
  let at = bytes.length
  value[at++] = TIMESTAMP_TAG
  value[at++] = timestampLength
  value[at++] = SECONDS_TAG
  at = writeVarint(value, at, seconds)
  value[at++] = NANOS_TAG
  at = writeVarint(value, at, nanos)
  value[at++] = FROM_SERVER[0]
  value[at] = FROM_SERVER[1]
  return value
}

/**
 * Decodes a Kafka value and re-applies the ingest rules, so a message from any other producer that
 * PostgreSQL would refuse is caught here, one message at a time, instead of failing a whole batch.
 */
export function decodeLogRecord(bytes: Uint8Array): LogRecord {
  let entry: LogEntryInput
  try {
    entry = decodeLogEntry(bytes)
  } catch (error) {
    throw new UndecodableMessageError(`not a protobuf LogEntry: ${(error as Error).message}`, error)
  }
  if (!entry.timestamp) throw new UndecodableMessageError('timestamp is missing (the ingest service always sets it)')
  const result = validateEntry(entry)
  if (!result.ok) throw new UndecodableMessageError(`${result.violation.field} ${result.violation.reason}`)
  // The message always has a timestamp; whether the ingest service gave it is the flag's to say.
  return entry.timestamp_from_server ? { ...result.record, timestampFromServer: true } : result.record
}
