import { describe, expect, test } from 'bun:test'
import {
  formatMicros,
  Limits,
  type LogEntryInput,
  METADATA_MAX_DEPTH,
  METADATA_NUMBER_LIMIT,
  oldestAcceptedMicros,
  RETENTION_EDGE_MARGIN_MS,
  validateEntry,
} from '../../../src/lib/log-entry.ts'
import { oldestKeptDay } from '../../../src/lib/retention.ts'

const valid: LogEntryInput = {
  timestamp: { seconds: '1730894400', nanos: 123_456_789 },
  service: 'api-gateway',
  level: 'INFO',
  message: 'Request processed successfully',
  host: 'api-01',
  tags: ['http', 'success'],
}

const NOW = 1_800_000_000_000_000
const check = (changes: Partial<LogEntryInput>) => validateEntry({ ...valid, ...changes }, () => NOW)

function violationOf(changes: Partial<LogEntryInput>) {
  const result = check(changes)
  if (result.ok) throw new Error(`expected a violation for ${JSON.stringify(changes).slice(0, 80)}`)
  return result.violation
}

function recordOf(changes: Partial<LogEntryInput>) {
  const result = check(changes)
  if (!result.ok) throw new Error(`unexpected violation: ${result.violation.field} ${result.violation.reason}`)
  return result.record
}

describe('validateEntry', () => {
  test('a complete entry is accepted and normalised', () => {
    expect(recordOf({})).toEqual({
      timestampMicros: 1730894400_123456,
      service: 'api-gateway',
      level: 'INFO',
      message: 'Request processed successfully',
      metadata: '{}',
      traceId: '',
      spanId: '',
      host: 'api-01',
      tags: ['http', 'success'],
    })
  })

  describe('service', () => {
    test('is required', () => expect(violationOf({ service: '' })).toEqual({ field: 'service', reason: 'is required' }))
    test('blank counts as missing', () => expect(violationOf({ service: '   ' }).field).toBe('service'))
    test('is trimmed', () => expect(recordOf({ service: '  billing ' }).service).toBe('billing'))
    test(`is at most ${Limits.serviceChars} characters`, () => {
      expect(recordOf({ service: 's'.repeat(Limits.serviceChars) }).service).toHaveLength(Limits.serviceChars)
      expect(violationOf({ service: 's'.repeat(Limits.serviceChars + 1) }).field).toBe('service')
    })
    test('must not contain NUL', () => expect(violationOf({ service: 'a\u0000b' })).toEqual({ field: 'service', reason: 'must not contain the NUL character' }))
  })

  describe('level', () => {
    test('is required, and the reason lists the levels', () => {
      expect(violationOf({ level: '' })).toEqual({ field: 'level', reason: 'is required; one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL' })
    })
    test('is case-insensitive', () => expect(recordOf({ level: 'error' }).level).toBe('ERROR'))
    test.each([
      ['WARNING', 'WARN'],
      ['warn', 'WARN'],
      ['ERR', 'ERROR'],
      ['CRITICAL', 'FATAL'],
      ['panic', 'FATAL'],
      ['notice', 'INFO'],
      ['Information', 'INFO'],
      ['dbg', 'DEBUG'],
      ['verbose', 'TRACE'],
      [' info ', 'INFO'],
    ])('alias %p is normalised to %p', (input, level) => expect(recordOf({ level: input }).level).toBe(level as never))
    test('an unknown level is rejected with the allowed list', () => {
      expect(violationOf({ level: 'LOUD' })).toEqual({ field: 'level', reason: '"LOUD" is not a level; use one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL' })
    })
  })

  describe('message', () => {
    test('is required', () => expect(violationOf({ message: '' })).toEqual({ field: 'message', reason: 'is required' }))
    test('blank counts as missing', () => expect(violationOf({ message: ' \n\t' }).field).toBe('message'))
    test('keeps its whitespace when not blank', () => expect(recordOf({ message: '  indented\n' }).message).toBe('  indented\n'))
    test(`is at most ${Limits.messageBytes} UTF-8 bytes`, () => {
      // Just under: the entry's other fields count toward the separate whole-entry limit.
      expect(recordOf({ message: 'm'.repeat(Limits.messageBytes - 1000) }).message).toHaveLength(Limits.messageBytes - 1000)
      expect(violationOf({ message: 'é'.repeat(Limits.messageBytes / 2 + 1) })).toEqual({
        field: 'message',
        reason: `is ${Limits.messageBytes + 2} bytes; the limit is ${Limits.messageBytes}`,
      })
    })
    test('must not contain NUL', () => expect(violationOf({ message: 'a\u0000b' }).field).toBe('message'))
  })

  describe('metadata', () => {
    test('absent or blank becomes {}', () => {
      expect(recordOf({ metadata: undefined }).metadata).toBe('{}')
      expect(recordOf({ metadata: '  ' }).metadata).toBe('{}')
    })
    test('a JSON object is kept as sent', () => expect(recordOf({ metadata: '{"user_id":"123","n":1}' }).metadata).toBe('{"user_id":"123","n":1}'))
    test.each(['not json', '[1,2]', '42', '"text"', 'null', '{"a":'])('%p is rejected: it must be a JSON object', (metadata) => {
      expect(violationOf({ metadata })).toEqual({ field: 'metadata', reason: 'must be a JSON object, e.g. {"user_id":"123"}' })
    })
    test(`is at most ${Limits.metadataBytes} bytes`, () => {
      const big = JSON.stringify({ blob: 'b'.repeat(Limits.metadataBytes) })
      expect(violationOf({ metadata: big }).field).toBe('metadata')
      expect(violationOf({ metadata: big }).reason).toContain(`the limit is ${Limits.metadataBytes}`)
    })
    test('must not contain an escaped NUL (PostgreSQL jsonb cannot hold it)', () => {
      expect(violationOf({ metadata: '{"a":"x\\u0000y"}' })).toEqual({ field: 'metadata', reason: 'must not contain the NUL character (\\u0000)' })
    })
    test('an escaped backslash before u0000 is text, not a NUL', () => expect(recordOf({ metadata: '{"a":"\\\\u0000"}' }).metadata).toBe('{"a":"\\\\u0000"}'))

    describe('holds only what PostgreSQL jsonb can store', () => {
      test('a lone high surrogate escape is refused', () => {
        expect(violationOf({ metadata: '{"k":"\\ud800"}' })).toEqual({
          field: 'metadata',
          reason: 'holds an unpaired surrogate escape (\\ud800), which PostgreSQL jsonb refuses',
        })
      })
      test('a high surrogate escape followed by anything but a low one is refused', () => {
        expect(violationOf({ metadata: '{"k":"\\ud800\\u0041"}' }).reason).toContain('unpaired surrogate escape (\\ud800)')
      })
      test('a lone low surrogate escape is refused', () => {
        expect(violationOf({ metadata: '{"k":"x\\uDC00"}' })).toEqual({
          field: 'metadata',
          reason: 'holds an unpaired surrogate escape (\\uDC00), which PostgreSQL jsonb refuses',
        })
      })
      test('a surrogate pair, escaped or not, is accepted', () => {
        expect(recordOf({ metadata: '{"k":"\\ud83d\\ude00"}' }).metadata).toBe('{"k":"\\ud83d\\ude00"}')
        expect(recordOf({ metadata: '{"k":"🎉"}' }).metadata).toBe('{"k":"🎉"}')
      })
      test('an escaped backslash before ud800 is text, not a surrogate', () =>
        expect(recordOf({ metadata: '{"k":"\\\\ud800"}' }).metadata).toBe('{"k":"\\\\ud800"}'))
      test('a lone surrogate in the text itself is refused', () => {
        expect(violationOf({ metadata: '{"k":"\ud800"}' })).toEqual({
          field: 'metadata',
          reason: 'holds an unpaired UTF-16 surrogate, which UTF-8 cannot encode',
        })
      })

      test(`nesting ${METADATA_MAX_DEPTH} levels deep is accepted, one more is refused naming the limit; objects and arrays count alike`, () => {
        const objects = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`
        const arrays = (levels: number) => `{"a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`
        expect(recordOf({ metadata: objects(METADATA_MAX_DEPTH) }).metadata).toBe(objects(METADATA_MAX_DEPTH))
        expect(recordOf({ metadata: arrays(METADATA_MAX_DEPTH) }).metadata).toBe(arrays(METADATA_MAX_DEPTH))
        const reason = `nests objects and arrays more than ${METADATA_MAX_DEPTH} levels deep; the limit is ${METADATA_MAX_DEPTH}`
        expect(violationOf({ metadata: objects(METADATA_MAX_DEPTH + 1) })).toEqual({ field: 'metadata', reason })
        expect(violationOf({ metadata: arrays(METADATA_MAX_DEPTH + 1) })).toEqual({ field: 'metadata', reason })
        expect(violationOf({ metadata: arrays(100_000) })).toEqual({ field: 'metadata', reason })
      })
      test('brackets inside strings do not count as nesting', () => {
        const text = JSON.stringify({ a: '{['.repeat(METADATA_MAX_DEPTH * 2) })
        expect(recordOf({ metadata: text }).metadata).toBe(text)
      })
      test(`a number of more than ${METADATA_NUMBER_LIMIT} digits or exponent is refused (numeric overflows)`, () => {
        expect(recordOf({ metadata: `{"n":-1.5e-${METADATA_NUMBER_LIMIT},"m":1e+${METADATA_NUMBER_LIMIT}}` }).metadata).toContain('1e+')
        expect(recordOf({ metadata: `{"n":${'9'.repeat(METADATA_NUMBER_LIMIT)}}` }).metadata).toContain('99')
        const reason = `holds a number (1e${METADATA_NUMBER_LIMIT + 1}) beyond ${METADATA_NUMBER_LIMIT} digits or an exponent beyond ±${METADATA_NUMBER_LIMIT}`
        expect(violationOf({ metadata: `{"n":1e${METADATA_NUMBER_LIMIT + 1}}` })).toEqual({ field: 'metadata', reason })
        expect(violationOf({ metadata: `{"n":0.${'1'.repeat(METADATA_NUMBER_LIMIT)}}` }).reason).toContain('beyond')
        expect(violationOf({ metadata: '{"n":0e-99999}' }).reason).toContain('beyond')
      })
    })
  })

  describe('trace_id', () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736'
    test('is optional', () => expect(recordOf({ trace_id: '' }).traceId).toBe(''))
    test('32 hex digits are accepted, lower-cased', () => expect(recordOf({ trace_id: trace.toUpperCase() }).traceId).toBe(trace))
    test('a UUID is accepted and stored without dashes', () => {
      expect(recordOf({ trace_id: '4bf92f35-77b3-4da6-a3ce-929d0e0e4736' }).traceId).toBe(trace)
    })
    test.each([
      ['too short', trace.slice(1)],
      ['too long', `${trace}0`],
      ['not hex', `${trace.slice(1)}g`],
      ['all zeros', '0'.repeat(32)],
    ])('%s is rejected', (_, traceId) => {
      expect(violationOf({ trace_id: traceId })).toEqual({
        field: 'trace_id',
        reason: 'must be 32 hex digits (W3C trace-context) or a UUID, and not all zeros',
      })
    })
  })

  describe('span_id', () => {
    test('is optional', () => expect(recordOf({ span_id: '' }).spanId).toBe(''))
    test('16 hex digits are accepted, lower-cased', () => expect(recordOf({ span_id: '00F067AA0BA902B7' }).spanId).toBe('00f067aa0ba902b7'))
    test.each([
      ['too short', '00f067aa0ba902b'],
      ['too long', '00f067aa0ba902b70'],
      ['not hex', '00f067aa0ba902bz'],
      ['all zeros', '0000000000000000'],
    ])('%s is rejected', (_, spanId) => {
      expect(violationOf({ span_id: spanId })).toEqual({ field: 'span_id', reason: 'must be 16 hex digits (W3C trace-context), and not all zeros' })
    })
  })

  describe('host', () => {
    test('is optional and trimmed', () => {
      expect(recordOf({ host: '' }).host).toBe('')
      expect(recordOf({ host: ' api-02 ' }).host).toBe('api-02')
    })
    test(`is at most ${Limits.hostChars} characters`, () => expect(violationOf({ host: 'h'.repeat(Limits.hostChars + 1) }).field).toBe('host'))
    test('must not contain NUL', () => expect(violationOf({ host: 'a\u0000' }).field).toBe('host'))
  })

  describe('text fields hold no unpaired surrogate (UTF-8 cannot encode one; it would silently become U+FFFD)', () => {
    const reason = 'holds an unpaired UTF-16 surrogate, which UTF-8 cannot encode'
    test.each(['service', 'message', 'host'] as const)('%s', (field) => {
      expect(violationOf({ [field]: 'a\ud800' })).toEqual({ field, reason })
      expect(violationOf({ [field]: '\udc00b' })).toEqual({ field, reason })
      expect(recordOf({ [field]: 'a🎉b' })[field]).toBe('a🎉b')
    })
    test('tags, by position; halves in neighbouring tags do not pair up', () => {
      expect(violationOf({ tags: ['ok', 'x\ud83d', '\ude00y'] })).toEqual({ field: 'tags', reason: `tag 1 ${reason}` })
      expect(recordOf({ tags: ['🎉'] }).tags).toEqual(['🎉'])
    })
  })

  describe('tags', () => {
    test('are optional', () => expect(recordOf({ tags: undefined }).tags).toEqual([]))
    test(`at most ${Limits.tags}`, () => {
      expect(recordOf({ tags: Array.from({ length: Limits.tags }, (_, i) => `t${i}`) }).tags).toHaveLength(Limits.tags)
      expect(violationOf({ tags: Array.from({ length: Limits.tags + 1 }, (_, i) => `t${i}`) })).toEqual({
        field: 'tags',
        reason: `has ${Limits.tags + 1} tags; the limit is ${Limits.tags}`,
      })
    })
    test('an empty tag is rejected by position', () => expect(violationOf({ tags: ['ok', ' '] })).toEqual({ field: 'tags', reason: 'tag 1 is empty' }))
    test(`a tag is at most ${Limits.tagChars} characters`, () => {
      expect(violationOf({ tags: ['t'.repeat(Limits.tagChars + 1)] })).toEqual({ field: 'tags', reason: `tag 0 is longer than ${Limits.tagChars} characters` })
    })
    test('must not contain NUL', () => expect(violationOf({ tags: ['a\u0000'] }).field).toBe('tags'))
  })

  test('the first violation is reported in a fixed order: a tag of its own rules, then NUL or surrogate in service, message, host, then a NUL in a tag', () => {
    const broken = { service: 'a\u0000', message: 'b\ud800', host: 'c\u0000', tags: ['ok', 'd\u0000'] }
    expect(violationOf({ ...broken, tags: ['ok', ' '] })).toEqual({ field: 'tags', reason: 'tag 1 is empty' })
    expect(violationOf(broken)).toEqual({ field: 'service', reason: 'must not contain the NUL character' })
    expect(violationOf({ ...broken, service: 'a' })).toEqual({ field: 'message', reason: 'holds an unpaired UTF-16 surrogate, which UTF-8 cannot encode' })
    expect(violationOf({ ...broken, service: 'a', message: 'b' })).toEqual({ field: 'host', reason: 'must not contain the NUL character' })
    expect(violationOf({ ...broken, service: 'a', message: 'b', host: 'c' })).toEqual({ field: 'tags', reason: 'must not contain the NUL character' })
  })

  describe('timestamp', () => {
    test('missing means now, never 1970', () => {
      expect(recordOf({ timestamp: undefined }).timestampMicros).toBe(NOW)
      expect(recordOf({ timestamp: null }).timestampMicros).toBe(NOW)
    })
    test('a record says when the server gave its time, whatever flag the client sent', () => {
      expect(recordOf({ timestamp: undefined }).timestampFromServer).toBe(true)
      expect(recordOf({}).timestampFromServer).toBeUndefined()
      expect(recordOf({ timestamp_from_server: true }).timestampFromServer).toBeUndefined()
    })
    test('seconds may arrive as a string (int64 with longs: String) and nanos are kept to the microsecond', () => {
      expect(recordOf({ timestamp: { seconds: '1730894400', nanos: 999_999_999 } }).timestampMicros).toBe(1730894400_999999)
    })
    test('seconds outside 0001-01-01..9999-12-31 are rejected', () => {
      expect(violationOf({ timestamp: { seconds: 253_402_300_800 } })).toEqual({
        field: 'timestamp',
        reason: 'seconds must be within 0001-01-01 and 9999-12-31',
      })
      expect(violationOf({ timestamp: { seconds: -62_135_596_801 } }).field).toBe('timestamp')
    })
    test('nanos outside 0..999999999 are rejected', () => {
      expect(violationOf({ timestamp: { seconds: 1, nanos: 1_000_000_000 } })).toEqual({ field: 'timestamp', reason: 'nanos must be between 0 and 999999999' })
      expect(violationOf({ timestamp: { seconds: 1, nanos: -1 } }).field).toBe('timestamp')
    })
  })

  describe('timestamp window (RETENTION_DAYS, INGEST_MAX_FUTURE_SECONDS)', () => {
    const window = { retentionDays: 7, maxFutureSeconds: 600 }
    const at = (iso: string) => Date.parse(iso) * 1000
    const judge = (nowIso: string, micros: number | null) =>
      validateEntry(
        { ...valid, timestamp: micros === null ? null : { seconds: Math.floor(micros / 1_000_000), nanos: (micros % 1_000_000) * 1000 } },
        () => at(nowIso),
        window,
      )
    const NOON = '2026-11-27T12:00:00.000Z'

    test('the start of the oldest UTC day retention keeps is accepted; a microsecond earlier is refused, naming RETENTION_DAYS', () => {
      expect(judge(NOON, at('2026-11-21T00:00:00.000Z')).ok).toBe(true)
      const refused = judge(NOON, at('2026-11-21T00:00:00.000Z') - 1)
      expect(refused).toEqual({
        ok: false,
        violation: {
          field: 'timestamp',
          reason:
            'is 2026-11-20T23:59:59.999999Z, before 2026-11-21T00:00:00.000000Z, the oldest time kept (RETENTION_DAYS=7); the next retention pass would delete it',
        },
      })
    })

    test('within the margin before midnight, the day retention drops at midnight is refused already', () => {
      const lastHour = new Date(Date.parse('2026-11-28T00:00:00.000Z') - RETENTION_EDGE_MARGIN_MS).toISOString()
      expect(judge(new Date(Date.parse(lastHour) - 1).toISOString(), at('2026-11-21T23:59:59.000Z')).ok).toBe(true)
      expect(judge(lastHour, at('2026-11-21T23:59:59.000Z')).ok).toBe(false)
      expect(judge(lastHour, at('2026-11-22T00:00:00.000Z')).ok).toBe(true)
    })

    test('whatever the time of day, the oldest accepted timestamp is still kept by every retention pass within the margin', () => {
      for (let hour = 0; hour < 48; hour += 0.25) {
        const now = Date.parse(NOON) + hour * 3_600_000
        const oldest = oldestAcceptedMicros(now * 1000, 7)
        for (const later of [now, now + RETENTION_EDGE_MARGIN_MS]) {
          expect(oldestKeptDay(new Date(later), 7).getTime() * 1000).toBeLessThanOrEqual(oldest)
        }
      }
    })

    test('up to INGEST_MAX_FUTURE_SECONDS ahead is accepted; beyond is refused, naming the variable', () => {
      expect(judge(NOON, at(NOON) + 600_000_000).ok).toBe(true)
      const refused = judge(NOON, at(NOON) + 600_000_001)
      expect(refused.ok).toBe(false)
      if (!refused.ok) {
        expect(refused.violation.field).toBe('timestamp')
        expect(refused.violation.reason).toStartWith('is 2026-11-27T12:10:00.000001Z, more than INGEST_MAX_FUTURE_SECONDS=600 seconds ahead')
      }
      expect(judge(NOON, at('2099-01-01T00:00:00.000Z')).ok).toBe(false)
    })

    test('an entry without a timestamp gets the server time and is never refused by the window', () => {
      const result = judge(NOON, null)
      expect(result.ok && result.record.timestampMicros).toBe(at(NOON))
    })

    test('with RETENTION_DAYS=1 only today (and, in the last margin of the day, only tomorrow) is accepted', () => {
      const one = (nowIso: string, iso: string) =>
        validateEntry({ ...valid, timestamp: { seconds: Date.parse(iso) / 1000 } }, () => at(nowIso), { ...window, retentionDays: 1 }).ok
      expect(one(NOON, '2026-11-27T00:00:00.000Z')).toBe(true)
      expect(one(NOON, '2026-11-26T23:59:59.000Z')).toBe(false)
      expect(one('2026-11-27T23:30:00.000Z', '2026-11-27T23:29:00.000Z')).toBe(false)
    })
  })

  test('reports only the first violation of an entry', () => {
    expect(violationOf({ service: '', level: 'LOUD', message: '' }).field).toBe('service')
  })

  test(`an entry over ${Limits.entryBytes} bytes in all is rejected even when each field is within its own limit`, () => {
    const message = 'm'.repeat(Limits.messageBytes - 100)
    const metadata = JSON.stringify({ note: 'n'.repeat(200) })
    expect(violationOf({ message, metadata }).field).toBe('entry')
  })

  test('counts the entry size in bytes', () => {
    const result = check({})
    expect(result.ok && result.bytes).toBe(
      'api-gateway'.length + 'INFO'.length + 'Request processed successfully'.length + '{}'.length + 'api-01'.length + 'httpsuccess'.length,
    )
  })
})

describe('formatMicros', () => {
  test('prints RFC 3339 UTC with microseconds', () => {
    expect(formatMicros(1730894400_123456)).toBe('2024-11-06T12:00:00.123456Z')
    expect(formatMicros(1730894400_000001)).toBe('2024-11-06T12:00:00.000001Z')
  })
})
