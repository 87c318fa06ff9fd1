import { describe, expect, test } from 'bun:test'
import { parseRfc3339, parseTime } from '../../../src/lib/time-range.ts'

const NOW = Date.parse('2026-03-10T12:00:00Z') * 1000

describe('parseTime', () => {
  test('reads RFC 3339 in UTC to the microsecond', () => {
    expect(parseTime('2024-11-06T12:00:00.123456Z', NOW)).toBe(Date.parse('2024-11-06T12:00:00.123Z') * 1000 + 456)
  })

  test('applies a numeric offset', () => {
    expect(parseTime('2024-11-06T13:30:00+01:30', NOW)).toBe(Date.parse('2024-11-06T12:00:00Z') * 1000)
  })

  test('truncates nanoseconds to the microseconds PostgreSQL stores', () => {
    expect(parseTime('2024-11-06T12:00:00.123456789Z', NOW)).toBe(Date.parse('2024-11-06T12:00:00.123Z') * 1000 + 456)
  })

  test('reads relative times as that long before now', () => {
    expect(parseTime('90s', NOW)).toBe(NOW - 90e6)
    expect(parseTime('15m', NOW)).toBe(NOW - 15 * 60e6)
    expect(parseTime('24h', NOW)).toBe(NOW - 24 * 3600e6)
    expect(parseTime('7d', NOW)).toBe(NOW - 7 * 86400e6)
    expect(parseTime('2w', NOW)).toBe(NOW - 14 * 86400e6)
  })

  test.each([
    'yesterday',
    '',
    '15',
    '15 minutes',
    '-15m',
    '2024-11-06',
    '2024-11-06T12:00:00',
    '2024-13-01T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-11-06T24:00:00Z',
    '2024-11-06T12:00:00+25:00',
    '0000-01-01T00:00:00Z',
    '999999999999w',
  ])('refuses %p', (value) => {
    expect(parseTime(value, NOW)).toBeUndefined()
  })

  test('accepts 29 February in a leap year', () => {
    expect(parseRfc3339('2024-02-29T00:00:00Z')).toBe(Date.parse('2024-02-29T00:00:00Z') * 1000)
  })
})
