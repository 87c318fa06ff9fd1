import { describe, expect, test } from 'bun:test'
import { entryFromDocument, parseTimestamp, UNKNOWN_SERVICE } from '../../../../src/lib/protocols/document.ts'

const entryOf = (value: unknown, defaults = {}) => {
  const parsed = entryFromDocument(value, defaults)
  if (!('entry' in parsed)) throw new Error(`expected an entry, got ${JSON.stringify(parsed)}`)
  return parsed.entry
}

describe('entryFromDocument', () => {
  test('reads our field names and keeps every other field in metadata', () => {
    const entry = entryOf({ service: 'web', level: 'error', msg: 'x', user: 'u1', request: { id: 7 } })
    expect(entry).toMatchObject({ service: 'web', level: 'error', message: 'x' })
    expect(JSON.parse(entry.metadata!)).toEqual({ user: 'u1', request: { id: 7 } })
  })

  test('reads ECS fields, dotted or nested, and keeps their siblings', () => {
    const entry = entryOf({
      '@timestamp': '2026-11-27T10:00:00.123456789Z',
      message: 'GET /',
      'log.level': 'warn',
      service: { name: 'checkout', version: '1.2' },
      host: { name: 'h1', os: { family: 'linux' } },
      trace: { id: 'ab'.repeat(16) },
      'span.id': 'cd'.repeat(8),
      http: { status: 200 },
    })
    expect(entry).toMatchObject({ service: 'checkout', level: 'warn', message: 'GET /', host: 'h1', trace_id: 'ab'.repeat(16), span_id: 'cd'.repeat(8) })
    expect(entry.timestamp).toEqual({ seconds: String(Date.parse('2026-11-27T10:00:00Z') / 1000), nanos: 123456789 })
    expect(JSON.parse(entry.metadata!)).toEqual({ service: { version: '1.2' }, host: { os: { family: 'linux' } }, http: { status: 200 } })
  })

  test('an explicit metadata object is the base that other fields join', () => {
    const entry = entryOf({ message: 'm', metadata: { a: 1 }, b: 2 })
    expect(JSON.parse(entry.metadata!)).toEqual({ a: 1, b: 2 })
    expect(JSON.parse(entryOf({ message: 'm', metadata: '{"a":1}' }).metadata!)).toEqual({ a: 1 })
  })

  test('no extra fields leaves metadata empty (stored as {})', () => {
    expect(entryOf({ service: 's', level: 'info', message: 'm' }).metadata).toBe('')
  })

  test('a missing service is unknown_service unless a default is given; a missing level is INFO', () => {
    expect(entryOf({ message: 'm' })).toMatchObject({ service: UNKNOWN_SERVICE, level: 'INFO' })
    expect(entryOf({ message: 'm' }, { service: 'cli', level: 'debug', host: 'h', tags: ['t'] })).toMatchObject({
      service: 'cli',
      level: 'debug',
      host: 'h',
      tags: ['t'],
    })
  })

  test("pino's numeric levels map to names", () => {
    expect(entryOf({ level: 30, msg: 'm' }).level).toBe('INFO')
    expect(entryOf({ level: 50, msg: 'm' }).level).toBe('ERROR')
  })

  test('tags as an array or "a,b", after the default tags', () => {
    expect(entryOf({ message: 'm', tags: 'a, b' }, { tags: ['cli'] }).tags).toEqual(['cli', 'a', 'b'])
    expect(entryOf({ message: 'm', tags: ['x'] }).tags).toEqual(['x'])
  })

  test('names the field that cannot be read', () => {
    expect(entryFromDocument([1])).toEqual({ problem: { field: 'entry', reason: 'must be a JSON object' } })
    expect(entryFromDocument({ message: ['a'] })).toEqual({ problem: { field: 'message', reason: 'must be a string, got an array' } })
    expect(entryFromDocument({ message: 'm', tags: [1] })).toMatchObject({ problem: { field: 'tags' } })
    expect(entryFromDocument({ message: 'm', metadata: '[1]' })).toMatchObject({ problem: { field: 'metadata' } })
    expect(entryFromDocument({ message: 'm', timestamp: 'yesterday' })).toMatchObject({ problem: { field: 'timestamp' } })
  })

  test('does not change the object it is given', () => {
    const doc = { message: 'm', log: { level: 'warn', file: 'f' } }
    entryFromDocument(doc)
    expect(doc).toEqual({ message: 'm', log: { level: 'warn', file: 'f' } })
  })
})

describe('parseTimestamp', () => {
  test('RFC 3339 keeps nanoseconds; offsets are applied', () => {
    expect(parseTimestamp('2024-11-06T12:00:00.000000001+01:00')).toEqual({ seconds: String(Date.parse('2024-11-06T11:00:00Z') / 1000), nanos: 1 })
  })
  test('a date that is not in the calendar is refused, not rolled over into the next month', () => {
    for (const bad of ['2024-02-30T12:00:00Z', '2023-02-29T00:00:00Z', '2024-04-31T00:00:00.5Z', '2024-11-06T24:00:00Z', '2024-13-01T00:00:00Z']) {
      expect({ bad, parsed: parseTimestamp(bad) }).toEqual({ bad, parsed: { field: 'timestamp', reason: expect.stringContaining('RFC 3339') } })
    }
    expect(parseTimestamp('2024-02-29T23:59:59.25z')).toEqual({ seconds: String(Date.parse('2024-02-29T23:59:59Z') / 1000), nanos: 250_000_000 })
  })
  test('a number is epoch milliseconds', () => {
    expect(parseTimestamp(1_700_000_000_123.5)).toEqual({ seconds: '1700000000', nanos: 123_500_000 })
  })
  test('{seconds, nanos} passes through', () => {
    expect(parseTimestamp({ seconds: 5, nanos: 6 })).toEqual({ seconds: '5', nanos: 6 })
  })
})
