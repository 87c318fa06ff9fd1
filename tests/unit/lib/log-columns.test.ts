import { describe, expect, test } from 'bun:test'
import { columnLiterals, copyLine, insertColumns } from '../../../src/lib/log-columns.ts'
import type { LogRecord } from '../../../src/lib/log-entry.ts'

const record = (overrides: Partial<LogRecord> = {}): LogRecord => ({
  timestampMicros: 1_700_000_000_123_456,
  service: 'checkout',
  level: 'INFO',
  message: 'order placed',
  metadata: '{"user_id":"42"}',
  traceId: '',
  spanId: '',
  host: '',
  tags: [],
  timestampFromServer: true,
  ...overrides,
})

const fields = (line: string) => line.slice(0, -1).split('\t')

describe('copyLine: one row in COPY text format', () => {
  test('holds a field per insert column, in their order, and ends with a newline', () => {
    const line = copyLine({ partition: 2, offset: 17n, record: record({ host: 'node-1', tags: ['env:prod', 'canary'] }) })
    expect(line.endsWith('\n')).toBe(true)
    const byColumn = Object.fromEntries(insertColumns.map((column, i) => [column, fields(line)[i]]))
    expect(byColumn).toEqual({
      timestamp: '2023-11-14T22:13:20.123456Z',
      service: 'checkout',
      level: 'INFO',
      message: 'order placed',
      metadata: '{"user_id":"42"}',
      trace_id: '\\N',
      span_id: '\\N',
      host: 'node-1',
      tags: '{"env:prod","canary"}',
      kafka_partition: '2',
      kafka_offset: '17',
      content_key: '\\N',
    })
  })

  test('escapes backslashes, tabs, newlines and carriage returns in text, so a field never splits the line', () => {
    const line = copyLine({ partition: 0, offset: 1n, record: record({ message: 'a\\b\tc\nd\re', metadata: '{"k":"x\\\\y"}', tags: ['t\tag'] }) })
    expect(line.split('\n')).toHaveLength(2)
    const [, , , message, metadata, , , , tags] = fields(line)
    expect(message).toBe('a\\\\b\\tc\\nd\\re')
    expect(metadata).toBe('{"k":"x\\\\\\\\y"}')
    expect(tags).toBe('{"t\\tag"}')
  })

  test('a content key when the sender gave the timestamp, the same one the INSERT path sends', () => {
    const sent = record({ timestampFromServer: false })
    const key = fields(copyLine({ partition: 0, offset: 1n, record: sent }))[insertColumns.indexOf('content_key')]
    expect(key).toMatch(/^-?\d+$/)
    expect(columnLiterals([{ partition: 0, offset: 1n, record: sent }])[insertColumns.indexOf('content_key')]).toBe(`{"${key}"}`)
  })
})
