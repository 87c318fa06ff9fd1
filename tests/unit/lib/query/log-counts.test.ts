import { describe, expect, test } from 'bun:test'
import { parseSearch } from '../../../../src/lib/log-search.ts'
import { countable, MINUTE_MICROS, splitByMinute } from '../../../../src/lib/query/log-counts.ts'

const M = MINUTE_MICROS
const T = Date.parse('2026-11-26T10:00:00Z') * 1000

describe('splitByMinute', () => {
  const none = { rows: [], excluded: [] }

  test('a range of whole minutes comes from the counts alone', () => {
    expect(splitByMinute([{ fromMicros: T, toMicros: T + 60 * M }])).toEqual({ minutes: [{ fromMicros: T, toMicros: T + 60 * M }], ...none })
  })

  test('a cut minute at either end comes from its rows when they cover less time than the rest of the minute', () => {
    expect(splitByMinute([{ fromMicros: T + M - 5, toMicros: T + 3 * M + 7 }])).toEqual({
      minutes: [{ fromMicros: T + M, toMicros: T + 3 * M }],
      rows: [
        { fromMicros: T + M - 5, toMicros: T + M },
        { fromMicros: T + 3 * M, toMicros: T + 3 * M + 7 },
      ],
      excluded: [],
    })
  })

  test('otherwise from log_counts, less the rows of that minute outside the range', () => {
    expect(splitByMinute([{ fromMicros: T + 5, toMicros: T + 4 * M - 7 }])).toEqual({
      minutes: [{ fromMicros: T, toMicros: T + 4 * M }],
      rows: [],
      excluded: [
        { fromMicros: T, toMicros: T + 5 },
        { fromMicros: T + 4 * M - 7, toMicros: T + 4 * M },
      ],
    })
  })

  test('time after now costs nothing: a range ending now takes its last minute from log_counts', () => {
    const now = T + 2 * M + 1
    expect(splitByMinute([{ fromMicros: T, toMicros: now }], now)).toEqual({
      minutes: [{ fromMicros: T, toMicros: T + 3 * M }],
      rows: [],
      excluded: [{ fromMicros: now, toMicros: T + 3 * M }],
    })
  })

  test('a range inside one minute, or across the edge of two, comes from rows or from the minutes less the rest', () => {
    expect(splitByMinute([{ fromMicros: T + 1, toMicros: T + 3 }])).toEqual({ minutes: [], rows: [{ fromMicros: T + 1, toMicros: T + 3 }], excluded: [] })
    expect(splitByMinute([{ fromMicros: T + 1, toMicros: T + M - 1 }])).toEqual({
      minutes: [{ fromMicros: T, toMicros: T + M }],
      rows: [],
      excluded: [
        { fromMicros: T, toMicros: T + 1 },
        { fromMicros: T + M - 1, toMicros: T + M },
      ],
    })
    expect(splitByMinute([{ fromMicros: T + M - 1, toMicros: T + M + 1 }])).toEqual({
      minutes: [],
      rows: [{ fromMicros: T + M - 1, toMicros: T + M + 1 }],
      excluded: [],
    })
  })

  test('buckets of whole minutes from a whole minute: one run of minutes, rows only after the last whole minute', () => {
    const to = T + 15 * M + 1
    const buckets = [0, 1, 2].map((index) => ({ fromMicros: T + index * 5 * M, toMicros: Math.min(T + (index + 1) * 5 * M, to) }))
    buckets[2]!.toMicros = to
    expect(splitByMinute(buckets)).toEqual({
      minutes: [{ fromMicros: T, toMicros: T + 15 * M }],
      rows: [{ fromMicros: T + 15 * M, toMicros: to }],
      excluded: [],
    })
  })

  test('a bucket edge inside a minute: that minute comes from rows, on both sides of the edge, however short a side is', () => {
    // Buckets of 90 s: the edge at 1.5 min cuts minute 1. Counting that minute whole would put it in one bucket.
    const buckets = [
      { fromMicros: T, toMicros: T + 1.5 * M },
      { fromMicros: T + 1.5 * M, toMicros: T + 3 * M },
    ]
    expect(splitByMinute(buckets)).toEqual({
      minutes: [
        { fromMicros: T, toMicros: T + M },
        { fromMicros: T + 2 * M, toMicros: T + 3 * M },
      ],
      rows: [{ fromMicros: T + M, toMicros: T + 2 * M }],
      excluded: [],
    })
    const late = [
      { fromMicros: T, toMicros: T + M + 1 },
      { fromMicros: T + M + 1, toMicros: T + 3 * M },
    ]
    expect(splitByMinute(late).rows).toEqual([{ fromMicros: T + M, toMicros: T + 2 * M }])
  })

  test('an unbounded side takes every minute on that side', () => {
    expect(splitByMinute([{ toMicros: T + 30 }])).toEqual({ minutes: [{ toMicros: T }], rows: [{ fromMicros: T, toMicros: T + 30 }], excluded: [] })
    expect(splitByMinute([{ fromMicros: T - 30 }])).toEqual({ minutes: [{ fromMicros: T }], rows: [{ fromMicros: T - 30, toMicros: T }], excluded: [] })
    expect(splitByMinute([{}])).toEqual({ minutes: [{}], ...none })
  })

  test('before the epoch, minutes are still whole minutes', () => {
    const old = -90 * M + 5
    expect(splitByMinute([{ fromMicros: old, toMicros: old + 2 * M }]).minutes).toEqual([{ fromMicros: -90 * M, toMicros: -88 * M }])
  })
})

describe('countable', () => {
  test('service, level, host and time only', () => {
    expect(countable({ ...parseSearch({ service: 'api', level: 'error,warn', host: 'web-1', from: '2026-11-26T10:00:00Z' }) })).toBe(true)
  })

  test('any filter log_counts does not keep counts rows', () => {
    for (const input of [{ q: 'timeout' }, { tags: 'canary' }, { 'attr.user': 'u1' }, { '-attr.user': 'u1' }, { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' }])
      expect({ input, countable: countable(parseSearch(input)) }).toEqual({ input, countable: false })
    const cursor = { timestamp: '2026-11-26T10:00:00.000000Z', partition: 0, offset: '1' }
    expect(countable({ ...parseSearch({}), cursor })).toBe(false)
  })
})
