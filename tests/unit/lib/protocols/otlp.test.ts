import { describe, expect, test } from 'bun:test'
import { RequestInvalidError } from '../../../../src/lib/errors.ts'
import { anyValue, type ExportLogsRequest, exportResponse, otlpEntries, otlpJsonEntries, otlpLevel } from '../../../../src/lib/protocols/otlp.ts'

const str = (value: string) => ({ stringValue: value })

const request = (records: ExportLogsRequest['resourceLogs']) => ({ resourceLogs: records })

describe('otlpLevel', () => {
  test('severity_number ranges map to the six levels', () => {
    expect([1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24].map((n) => otlpLevel(n, ''))).toEqual([
      'TRACE',
      'TRACE',
      'DEBUG',
      'DEBUG',
      'INFO',
      'INFO',
      'WARN',
      'WARN',
      'ERROR',
      'ERROR',
      'FATAL',
      'FATAL',
    ])
  })
  test('without a number, severity_text; without either, or with a text that names no level, INFO', () => {
    expect(otlpLevel(0, 'warning')).toBe('WARN')
    expect(otlpLevel(0, 'custom-level')).toBe('INFO')
    expect(otlpLevel(undefined, '')).toBe('INFO')
    expect(otlpLevel('SEVERITY_NUMBER_ERROR2', '')).toBe('ERROR')
  })
})

describe('anyValue', () => {
  test('turns every kind of value into plain JSON', () => {
    expect(
      anyValue({
        kvlistValue: {
          values: [
            { key: 'a', value: { intValue: '9007199254740993' } },
            { key: 'b', value: { arrayValue: { values: [{ boolValue: true }, { doubleValue: 1.5 }] } } },
          ],
        },
      }),
    ).toEqual({
      a: '9007199254740993',
      b: [true, 1.5],
    })
    expect(anyValue({ intValue: { toString: () => '42' } })).toBe(42)
    expect(anyValue({ bytesValue: new Uint8Array([1, 2]) })).toBe('AQI=')
  })
})

describe('otlpEntries', () => {
  test('maps resource, severity, body, time, ids and attributes of a protobuf-decoded request', () => {
    const [parsed] = otlpEntries(
      request([
        {
          resource: {
            attributes: [
              { key: 'service.name', value: str('checkout') },
              { key: 'host.name', value: str('h1') },
            ],
          },
          scopeLogs: [
            {
              scope: { name: 'my-lib', version: '1.0.0' },
              logRecords: [
                {
                  timeUnixNano: { toString: () => '1700000000123456789' },
                  severityNumber: 17,
                  severityText: 'ERROR',
                  body: str('payment failed'),
                  attributes: [
                    { key: 'user.id', value: str('u1') },
                    { key: 'resource', value: str('clash') },
                  ],
                  traceId: new Uint8Array(16).fill(0xab),
                  spanId: new Uint8Array(8).fill(0xcd),
                },
              ],
            },
          ],
        },
      ]),
    )
    expect(parsed).toEqual({
      entry: {
        timestamp: { seconds: '1700000000', nanos: 123456789 },
        service: 'checkout',
        level: 'ERROR',
        message: 'payment failed',
        metadata: JSON.stringify({
          'user.id': 'u1',
          resource: { 'service.name': 'checkout', 'host.name': 'h1' },
          scope: { name: 'my-lib', version: '1.0.0' },
          attributes: { resource: 'clash' },
        }),
        trace_id: 'ab'.repeat(16),
        span_id: 'cd'.repeat(8),
        host: 'h1',
        tags: [],
      },
    })
  })

  test('reads OTLP/JSON the same way: hex ids, 64-bit ints as strings', () => {
    const [parsed] = otlpEntries(
      request([{ scopeLogs: [{ logRecords: [{ observedTimeUnixNano: '1700000000000000001', traceId: 'AB'.repeat(16), body: str('x') }] }] }]),
    )
    expect(parsed).toMatchObject({
      entry: { service: 'unknown_service', level: 'INFO', trace_id: 'ab'.repeat(16), timestamp: { seconds: '1700000000', nanos: 1 } },
    })
  })

  test('a structured body becomes JSON text; no body falls back to the event name', () => {
    const [structured, event] = otlpEntries(
      request([{ scopeLogs: [{ logRecords: [{ body: { kvlistValue: { values: [{ key: 'k', value: str('v') }] } } }, { eventName: 'user.login' }] }] }]),
    )
    expect(structured).toMatchObject({ entry: { message: '{"k":"v"}' } })
    expect(event).toMatchObject({ entry: { message: 'user.login', metadata: '{"event.name":"user.login"}' } })
  })

  test('a severity_text that names no level is stored as INFO and kept in metadata, not refused', () => {
    const [parsed] = otlpEntries(request([{ scopeLogs: [{ logRecords: [{ severityText: 'notice2', body: str('x') }] }] }]))
    expect(parsed).toMatchObject({ entry: { level: 'INFO', metadata: '{"severity_text":"notice2"}' } })
  })

  test('all-zero ids mean none; a zero time means the server stamps it', () => {
    const [parsed] = otlpEntries(
      request([{ scopeLogs: [{ logRecords: [{ timeUnixNano: '0', traceId: new Uint8Array(16), spanId: new Uint8Array(8), body: str('x') }] }] }]),
    )
    expect(parsed).toMatchObject({ entry: { trace_id: '', span_id: '', timestamp: null } })
  })

  test('an id of the wrong length is that record’s problem only', () => {
    const parsed = otlpEntries(request([{ scopeLogs: [{ logRecords: [{ traceId: new Uint8Array(3), body: str('bad') }, { body: str('good') }] }] }]))
    expect(parsed[0]).toEqual({ problem: { field: 'trace_id', reason: 'must be 16 bytes (32 hex digits in OTLP/JSON)' } })
    expect(parsed[1]).toMatchObject({ entry: { message: 'good' } })
  })

  test('records of every resource and scope, in order', () => {
    const parsed = otlpEntries(
      request([
        {
          resource: { attributes: [{ key: 'service.name', value: str('a') }] },
          scopeLogs: [{ logRecords: [{ body: str('1') }, { body: str('2') }] }, { logRecords: [{ body: str('3') }] }],
        },
        { resource: { attributes: [{ key: 'service.name', value: str('b') }] }, scopeLogs: [{ logRecords: [{ body: str('4') }] }] },
      ]),
    )
    expect(parsed.map((item) => ('entry' in item ? `${item.entry.service}:${item.entry.message}` : 'problem'))).toEqual(['a:1', 'a:2', 'a:3', 'b:4'])
  })
})

describe('otlpJsonEntries', () => {
  const withRecord = (fields: object) => JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: str('x'), ...fields }] }] }] })

  test('reads an OTLP/JSON body as otlpEntries reads the object', () => {
    expect(otlpJsonEntries(withRecord({ severityNumber: 13, traceId: 'AB'.repeat(16) }))).toMatchObject([
      { entry: { message: 'x', level: 'WARN', trace_id: 'ab'.repeat(16), service: 'unknown_service' } },
    ])
    expect(otlpJsonEntries('{}')).toEqual([])
  })

  test('a body that is not JSON, not an object, or has fields of the wrong type is RequestInvalidError, not a TypeError or an empty request', () => {
    const bodies = [
      '{"resourceLogs": [',
      'null',
      '[1]',
      '"text"',
      '{"resourceLogs": 5}',
      '{"resourceLogs": [{"scopeLogs": [{"logRecords": 7}]}]}',
      withRecord({ traceId: 123 }),
      withRecord({ spanId: {} }),
      withRecord({ severityText: 5 }),
      withRecord({ attributes: 5 }),
      withRecord({ body: { kvlistValue: { values: 5 } } }),
    ]
    for (const body of bodies) expect(() => otlpJsonEntries(body), body).toThrow(RequestInvalidError)
  })
})

describe('exportResponse', () => {
  test('empty on full success, partial_success otherwise', () => {
    expect(exportResponse(0, '')).toEqual({})
    expect(exportResponse(2, 'why')).toEqual({ partialSuccess: { rejectedLogRecords: 2, errorMessage: 'why' } })
  })
})
