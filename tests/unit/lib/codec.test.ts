import { describe, expect, test } from 'bun:test'
import { decodeLogRecord, encodeLogRecord, withServerTimestamp } from '../../../src/lib/codec.ts'
import { ErrorCodes } from '../../../src/lib/errors.ts'
import type { LogRecord } from '../../../src/lib/log-entry.ts'
import { LogEntryType } from '../../../src/lib/proto.ts'

const record: LogRecord = {
  timestampMicros: 1_730_894_400_123_456,
  service: 'api-gateway',
  level: 'WARN',
  message: 'upstream slow',
  metadata: '{"user_id":"123","nested":{"a":[1,2]}}',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  host: 'api-01',
  tags: ['http', 'env:prod'],
}

describe('codec', () => {
  test('a record survives encode and decode field for field, microseconds included', () => {
    expect(decodeLogRecord(encodeLogRecord(record))).toEqual(record)
  })

  test('a record without optional fields survives the round trip', () => {
    const minimal: LogRecord = { ...record, metadata: '{}', traceId: '', spanId: '', host: '', tags: [] }
    expect(decodeLogRecord(encodeLogRecord(minimal))).toEqual(minimal)
  })

  test('whether the ingest service gave the timestamp survives the round trip; a client timestamp carries no flag', () => {
    const stamped: LogRecord = { ...record, timestampFromServer: true }
    expect(decodeLogRecord(encodeLogRecord(stamped))).toEqual(stamped)
    expect(decodeLogRecord(encodeLogRecord({ ...record, timestampFromServer: false }))).toEqual(record)
  })

  test("a client's bytes without a timestamp, with the server's time appended, decode as the record encoded whole", () => {
    const { timestamp: _, ...fields } = LogEntryType.toObject(LogEntryType.decode(encodeLogRecord(record)))
    const sent = LogEntryType.encode(LogEntryType.fromObject(fields)).finish()
    // Whole seconds (nanos 0), a microsecond, and seconds past 2^31 and 2^32 (beyond 32-bit arithmetic).
    for (const timestampMicros of [1_730_894_400_000_000, 1_730_894_400_123_456, 2_200_000_000_000_001, 4_400_000_000_999_999]) {
      const stamped: LogRecord = { ...record, timestampMicros, timestampFromServer: true }
      const appended = withServerTimestamp(sent, timestampMicros)
      expect(decodeLogRecord(appended)).toEqual(stamped)
      expect(LogEntryType.toObject(LogEntryType.decode(appended), { longs: String })).toEqual(
        LogEntryType.toObject(LogEntryType.decode(encodeLogRecord(stamped)), { longs: String }),
      )
      expect(Buffer.from(appended.subarray(0, sent.length))).toEqual(Buffer.from(sent))
    }
  })

  test('bytes that are not a LogEntry are refused as undecodable, not retryable', () => {
    try {
      decodeLogRecord(new Uint8Array([0xff, 0xff, 0xff, 0xff]))
      throw new Error('expected decodeLogRecord to throw')
    } catch (error) {
      expect((error as { code: string }).code).toBe(ErrorCodes.MESSAGE_UNDECODABLE)
      expect((error as { retryable: boolean }).retryable).toBe(false)
    }
  })

  test('a LogEntry that breaks a validation rule is refused with the rule in the reason', () => {
    const bad = encodeLogRecord({ ...record, level: 'LOUD' as LogRecord['level'] })
    expect(() => decodeLogRecord(bad)).toThrow(/level/)
  })

  test('a LogEntry without a timestamp is refused', () => {
    const bytes = encodeLogRecord(record)
    // Field 1 (timestamp) is encoded first: tag 0x0a, then its length; dropping it leaves the rest valid.
    const withoutTimestamp = bytes.subarray(2 + bytes[1]!)
    expect(() => decodeLogRecord(withoutTimestamp)).toThrow(/timestamp/)
  })
})
