import { describe, expect, test } from 'bun:test'
import { contentKey } from '../../../src/lib/content-key.ts'
import type { LogRecord } from '../../../src/lib/log-entry.ts'

const record: LogRecord = {
  timestampMicros: 1_730_894_400_123_456,
  service: 'api-gateway',
  level: 'WARN',
  message: 'upstream slow',
  metadata: '{"user_id":"123"}',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  host: 'api-01',
  tags: ['http', 'env:prod'],
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

describe('contentKey', () => {
  test('is a signed 64-bit integer in decimal, the same for the same content every time', () => {
    const key = contentKey(record)
    expect(key).toMatch(/^-?\d+$/)
    expect(BigInt(key!)).toBeGreaterThanOrEqual(INT64_MIN)
    expect(BigInt(key!)).toBeLessThanOrEqual(INT64_MAX)
    expect(contentKey({ ...record, tags: [...record.tags] })).toBe(key)
  })

  test('is the key rows already stored carry: the same digest, sign and decimal form as ever', () => {
    // Pinned: a key computed differently would no longer match stored rows, and their resent copies would be stored again.
    expect(contentKey(record)).toBe('4741684492547475129')
    expect(contentKey({ ...record, host: 'api-03' })).toBe('-4305804900288511837')
    expect(contentKey({ ...record, message: 'é ünïcode 😀', tags: [] })).toBe('3099991689253965976')
  })

  test('changes with every stored field, so two entries differing anywhere are two logs', () => {
    const variants: Partial<LogRecord>[] = [
      { timestampMicros: record.timestampMicros + 1 },
      { service: 'api-gateway2' },
      { level: 'ERROR' },
      { message: 'upstream slow!' },
      { metadata: '{"user_id":"124"}' },
      { traceId: '' },
      { spanId: '' },
      { host: 'api-02' },
      { tags: ['http'] },
      { tags: ['env:prod', 'http'] },
    ]
    const keys = new Set([contentKey(record), ...variants.map((change) => contentKey({ ...record, ...change }))])
    expect(keys.size).toBe(variants.length + 1)
  })

  test('fields cannot run into each other: moving text from one field to the next gives another key', () => {
    const a = contentKey({ ...record, service: 'ab', host: 'c', tags: ['d'] })
    const b = contentKey({ ...record, service: 'a', host: 'bc', tags: ['d'] })
    const c = contentKey({ ...record, host: 'c', tags: ['d', 'e'] })
    const d = contentKey({ ...record, host: 'c', tags: ['d\u0000e'] })
    expect(new Set([a, b, c]).size).toBe(3)
    // NUL never reaches here (validation refuses it); the test shows why that matters.
    expect(d).toBe(c)
  })

  test('is null for an entry the server timestamped: a retry of it cannot be recognised, and equal lines stay two logs', () => {
    expect(contentKey({ ...record, timestampFromServer: true })).toBeNull()
    expect(contentKey({ ...record, timestampFromServer: false })).toBe(contentKey(record))
  })
})
