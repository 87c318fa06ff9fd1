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

/**
 * Decodes a Kafka value and re-applies the ingest rules, so a message from any other producer that
 * PostgreSQL would refuse is caught here, one message at a time, instead of failing a whole batch.
 */
export function decodeLogRecord(bytes: Uint8Array): LogRecord {
  let entry: LogEntryInput
  try {
    entry = LogEntry.toObject(LogEntry.decode(bytes), { longs: String, defaults: false }) as LogEntryInput
  } catch (error) {
    throw new UndecodableMessageError(`not a protobuf LogEntry: ${(error as Error).message}`, error)
  }
  if (!entry.timestamp) throw new UndecodableMessageError('timestamp is missing (the ingest service always sets it)')
  const result = validateEntry(entry)
  if (!result.ok) throw new UndecodableMessageError(`${result.violation.field} ${result.violation.reason}`)
  // The message always has a timestamp; whether the ingest service gave it is the flag's to say.
  return entry.timestamp_from_server ? { ...result.record, timestampFromServer: true } : result.record
}
