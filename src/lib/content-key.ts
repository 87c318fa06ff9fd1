import type { LogRecord } from './log-entry.ts'

/**
 * A stored log's identity when its sender gave the timestamp: the first 64 bits of SHA-256 over every stored
 * field, as a signed decimal (a PostgreSQL bigint). A unique index on (timestamp, content_key) (schema.sql)
 * makes a resent entry a no-op in storage, whatever brought it back: a client retrying after a lost answer,
 * a timeout or an UNAVAILABLE whose batch Kafka wrote after all, through any intake protocol. Kafka's own
 * re-deliveries stay caught by (timestamp, partition, offset).
 *
 * An entry timestamped by the server has no content key (null): its time is new on every attempt, so a
 * retry could not be recognised anyway, and two identical lines sent in one request stay two logs.
 *
 * Fields are joined with NUL, which validation refuses in every text field (log-entry.ts), so two different
 * entries never join to the same text. Metadata counts as the JSON text sent, byte for byte; a sender that
 * retries sends the same bytes. Two distinct entries would share a key only if they also share the
 * microsecond: with 64 bits that is a chance of about 2^-64 per such pair.
 */
export function contentKey(record: LogRecord): string | null {
  if (record.timestampFromServer) return null
  const text = `${record.timestampMicros}\0${record.service}\0${record.level}\0${record.message}\0${record.metadata}\0${record.traceId}\0${record.spanId}\0${record.host}\0${record.tags.join('\0')}`
  Bun.SHA256.hash(text, digest)
  return digestView.getBigInt64(0).toString()
}

// One digest buffer and view for every call (contentKey is synchronous and runs once per stored row):
// allocating a digest per row and reaching its ArrayBuffer for a view cost more than hashing.
const digest = new Uint8Array(32)
const digestView = new DataView(digest.buffer)
