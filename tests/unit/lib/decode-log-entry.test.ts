import { describe, expect, spyOn, test } from 'bun:test'
import protobuf from 'protobufjs'
import { encodeLogRecord } from '../../../src/lib/codec.ts'
import { decodeLogEntry } from '../../../src/lib/decode-log-entry.ts'
import { type LogEntryInput, type LogRecord, validateEntry } from '../../../src/lib/log-entry.ts'
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

/** What the consumer decoded before: protobufjs's decode and toObject. */
const protobufjs = (bytes: Uint8Array) => LogEntryType.toObject(LogEntryType.decode(bytes), { longs: String, defaults: false }) as LogEntryInput

const NOW = 1_800_000_000_000_000
/** What decoding means to the consumer: the validated record (or violation), or the error thrown. */
function outcome(decode: (bytes: Uint8Array) => LogEntryInput, bytes: Uint8Array) {
  try {
    return validateEntry(decode(bytes), () => NOW)
  } catch (error) {
    return { threw: (error as Error).message }
  }
}

const encoded = (changes: Partial<LogRecord>) => Buffer.from(encodeLogRecord({ ...record, ...changes }))
const timestamp = (write: (w: protobuf.Writer) => void) => {
  const inner = protobuf.Writer.create()
  write(inner)
  return inner.finish()
}
/** A LogEntry written field by field, to lay it out in ways our own encoder never does. */
function written(write: (w: protobuf.Writer) => void): Buffer {
  const w = protobuf.Writer.create()
  write(w)
  return Buffer.from(w.finish())
}
const withTimestamp = (w: protobuf.Writer, seconds: number | string, nanos = 0) =>
  w.uint32((1 << 3) | 2).bytes(
    timestamp((t) =>
      t
        .uint32((1 << 3) | 0)
        .int64(seconds)
        .uint32((2 << 3) | 0)
        .int32(nanos),
    ),
  )
const withText = (w: protobuf.Writer, field: number, value: string) => w.uint32((field << 3) | 2).string(value)
const basics = (w: protobuf.Writer) => withText(withText(withText(w, 2, 'api'), 3, 'INFO'), 4, 'hello')

describe('decodeLogEntry', () => {
  const cases: Record<string, Buffer> = {
    'an ASCII record as ingest writes it': encoded({}),
    'a record with UTF-8 text': encoded({ message: 'ünïcode 😀 ok', tags: ['é'], host: 'hôte' }),
    'a record the server timestamped': encoded({ timestampFromServer: true }),
    'a record without optional fields': encoded({ metadata: '{}', traceId: '', spanId: '', host: '', tags: [] }),
    'a record that breaks a validation rule': encoded({ level: 'LOUD' as LogRecord['level'] }),
    'no timestamp': written(basics),
    'nothing at all': Buffer.alloc(0),
    'a timestamp at the epoch (all defaults)': written((w) => basics(w.uint32((1 << 3) | 2).bytes(new Uint8Array(0)))),
    'the timestamp and its flag after the other fields': written((w) =>
      withTimestamp(basics(w), 1_730_000_000, 9)
        .uint32((10 << 3) | 0)
        .bool(true),
    ),
    'a timestamp given twice (the last wins)': written((w) => basics(withTimestamp(withTimestamp(w, 1_700_000_000, 5), 1_730_000_000, 7))),
    'a string field given twice (the last wins)': written((w) => withText(basics(withTimestamp(w, 1_730_000_000)), 2, 'other')),
    'a negative timestamp': written((w) => basics(withTimestamp(w, -5))),
    'seconds beyond protobuf Timestamp range': written((w) => basics(withTimestamp(w, '9000000000000000'))),
    'nanos beyond int32': written((w) => basics(w.uint32((1 << 3) | 2).bytes(timestamp((t) => t.uint32((2 << 3) | 0).uint32(0xffffffff))))),
    'a field this version does not know': written((w) =>
      basics(withTimestamp(w, 1_730_000_000))
        .uint32((11 << 3) | 0)
        .uint32(1),
    ),
    'a field number beyond 15': written((w) => withText(basics(withTimestamp(w, 1_730_000_000)), 20, 'x')),
    'a known field with another wire type': written((w) =>
      basics(withTimestamp(w, 1_730_000_000))
        .uint32((8 << 3) | 0)
        .uint32(3),
    ),
    'a string that runs past the end': Buffer.concat([written(basics), Buffer.from([(8 << 3) | 2, 50, 0x61])]),
    'a truncated length': Buffer.concat([written(basics), Buffer.from([(8 << 3) | 2, 0x80])]),
    garbage: Buffer.from([0xff, 0xff, 0xff, 0xff]),
    'invalid UTF-8 in the message': written((w) =>
      withText(withText(withTimestamp(w, 1_730_000_000), 2, 'api'), 3, 'INFO')
        .uint32((4 << 3) | 2)
        .bytes(Buffer.from([0x68, 0xff, 0xc3, 0x69])),
    ),
  }
  for (const [name, bytes] of Object.entries(cases)) {
    test(`decodes ${name} as protobufjs does`, () => {
      expect(outcome(decodeLogEntry, bytes)).toEqual(outcome(protobufjs, bytes))
    })
  }

  test('gives the fields validation reads, seconds as a number', () => {
    const entry = decodeLogEntry(encoded({ timestampFromServer: true }))
    expect(entry).toMatchObject({
      timestamp: { seconds: 1_730_894_400, nanos: 123_456_000 },
      service: 'api-gateway',
      level: 'WARN',
      message: 'upstream slow',
      metadata: record.metadata,
      trace_id: record.traceId,
      span_id: record.spanId,
      host: 'api-01',
      tags: ['http', 'env:prod'],
      timestamp_from_server: true,
    })
  })

  test('reads what ingest writes without protobufjs, and hands anything else to it', () => {
    const decode = spyOn(LogEntryType, 'decode')
    try {
      decodeLogEntry(cases['an ASCII record as ingest writes it']!)
      decodeLogEntry(cases['a record with UTF-8 text']!)
      expect(decode).not.toHaveBeenCalled()
      decodeLogEntry(cases['a field this version does not know']!)
      expect(decode).toHaveBeenCalledTimes(1)
    } finally {
      decode.mockRestore()
    }
  })

  test('replaces invalid UTF-8 with U+FFFD, as the README says the consumer stores it', () => {
    const bytes = written((w) =>
      withText(withTimestamp(w, 1_730_000_000), 2, 'api')
        .uint32((4 << 3) | 2)
        .bytes(Buffer.from([0x68, 0xff, 0x69])),
    )
    expect(decodeLogEntry(bytes).message).toBe('h\uFFFDi')
  })

  test('decodes a Uint8Array that is not a Buffer too', () => {
    const bytes = encodeLogRecord(record)
    expect(outcome(decodeLogEntry, new Uint8Array(bytes))).toEqual(outcome(protobufjs, Buffer.from(bytes)))
  })
})
