import { describe, expect, test } from 'bun:test'
import { parseSearch } from '../../../../src/lib/log-search.ts'
import {
  bucketSpans,
  HistogramLimits,
  type HistogramRow,
  histogramRange,
  histogramSources,
  parseStep,
  planHistogram,
  shapeHistogram,
} from '../../../../src/lib/query/histogram.ts'
import { splitQuery } from '../../../../src/lib/query/routes.ts'
import { queryRefusal } from '../../../support/query-refusal.ts'

const HOUR = 3_600e6
const FROM = Date.parse('2026-11-26T10:00:00Z') * 1000
const TO = FROM + HOUR

function refusal(run: () => unknown): { parameter: string; message: string } {
  const { parameter, message } = queryRefusal(run)
  return { parameter, message }
}

describe('parseStep', () => {
  test('reads durations with a unit, and plain numbers as seconds', () => {
    expect(parseStep('30s')).toBe(30e6)
    expect(parseStep('1m')).toBe(60e6)
    expect(parseStep('5m')).toBe(300e6)
    expect(parseStep('1h')).toBe(HOUR)
    expect(parseStep('1d')).toBe(86_400e6)
    expect(parseStep('500ms')).toBe(500e3)
    expect(parseStep('90')).toBe(90e6)
  })

  test('refuses zero, fractions, negatives and unknown units', () => {
    for (const value of ['0', '0s', '1.5m', '-1m', '1y', 'm', '', '1 m']) expect(parseStep(value)).toBeUndefined()
  })
})

describe('planHistogram', () => {
  test('defaults to 60 buckets grouped by level', () => {
    expect(planHistogram({}, FROM, TO)).toEqual({ fromMicros: FROM, toMicros: TO, startMicros: FROM, stepMicros: 60e6, count: 60, groupBy: 'level' })
  })

  test('buckets=N gives N buckets of ceil(range / N), rounded up to whole minutes from a minute up', () => {
    expect(planHistogram({ buckets: '4' }, FROM, TO)).toMatchObject({ stepMicros: 900e6, count: 4 })
    expect(planHistogram({ buckets: '300' }, FROM, TO)).toMatchObject({ stepMicros: 12e6, count: 300 })
    expect(planHistogram({ buckets: '7' }, FROM, FROM + 7 * 60e6 + 1)).toMatchObject({ stepMicros: 120e6, count: 4 })
  })

  test('buckets shorter than a minute start at from; a range too short for N leaves the later ones out', () => {
    expect(planHistogram({ buckets: '7' }, FROM + 3, FROM + 13)).toMatchObject({ startMicros: FROM + 3, stepMicros: 2, count: 5 })
  })

  test('whole-minute buckets lie on multiples of the step since the epoch: N + 1 of them when from is off that grid', () => {
    expect(planHistogram({}, FROM + 30e6, TO + 30e6)).toMatchObject({ startMicros: FROM, stepMicros: 60e6, count: 61 })
    // 24 h in 60 buckets: 24 minutes each, on the 24-minute grid (10:00 is on it).
    expect(planHistogram({}, FROM, FROM + 86_400e6)).toMatchObject({ startMicros: FROM, stepMicros: 24 * 60e6, count: 60 })
    expect(planHistogram({}, FROM + 30e6, FROM + 30e6 + 86_400e6)).toMatchObject({ startMicros: FROM, stepMicros: 24 * 60e6, count: 61 })
    // 10:00 is 5 minutes into a 7-minute step.
    expect(planHistogram({ step: '7m' }, FROM, TO)).toMatchObject({ startMicros: FROM - 5 * 60e6, stepMicros: 420e6, count: 10 })
  })

  test('step gives the buckets from..to touches, at least one', () => {
    expect(planHistogram({ step: '5m' }, FROM, TO)).toMatchObject({ stepMicros: 300e6, count: 12 })
    expect(planHistogram({ step: '1m' }, FROM, FROM)).toMatchObject({ count: 1 })
    expect(planHistogram({ step: '12s' }, FROM, TO)).toMatchObject({ count: 300 })
  })

  test('group_by is level, service or host', () => {
    expect(planHistogram({ group_by: 'service' }, FROM, TO).groupBy).toBe('service')
    expect(planHistogram({ group_by: 'host' }, FROM, TO).groupBy).toBe('host')
  })

  test('every bad value is a QueryInvalidError naming its parameter', () => {
    expect(refusal(() => planHistogram({ buckets: '0' }, FROM, TO)).parameter).toBe('buckets')
    expect(refusal(() => planHistogram({ buckets: '301' }, FROM, TO)).parameter).toBe('buckets')
    expect(refusal(() => planHistogram({ buckets: '2.5' }, FROM, TO)).parameter).toBe('buckets')
    expect(refusal(() => planHistogram({ buckets: 'ten' }, FROM, TO)).parameter).toBe('buckets')
    expect(refusal(() => planHistogram({ step: 'soon' }, FROM, TO)).parameter).toBe('step')
    expect(refusal(() => planHistogram({ step: '0s' }, FROM, TO)).parameter).toBe('step')
    const tooMany = refusal(() => planHistogram({ step: '11s' }, FROM, TO))
    expect(tooMany).toEqual({ parameter: 'step', message: `step: makes 328 buckets over this range; at most ${HistogramLimits.bucketsMax}: use a larger step` })
    expect(refusal(() => planHistogram({ step: '1m', buckets: '10' }, FROM, TO)).parameter).toBe('step')
    expect(refusal(() => planHistogram({ group_by: 'message' }, FROM, TO)).parameter).toBe('group_by')
  })
})

describe('histogramRange', () => {
  const search = { tags: [], limit: 100, page: 1 }
  test('to defaults to now and from to an hour before to', () => {
    expect(histogramRange(search, TO)).toEqual({ fromMicros: FROM, toMicros: TO })
    expect(histogramRange({ ...search, toMicros: TO }, 0)).toEqual({ fromMicros: FROM, toMicros: TO })
    expect(histogramRange({ ...search, fromMicros: FROM }, TO + 5)).toEqual({ fromMicros: FROM, toMicros: TO + 5 })
  })

  test('a from later than the default to (now) is refused as from', () => {
    expect(refusal(() => histogramRange({ ...search, fromMicros: TO + 1 }, TO)).parameter).toBe('from')
  })
})

describe('shapeHistogram', () => {
  const plan = planHistogram({ buckets: '4' }, FROM, TO)

  test('estimated counts are rounded per bucket and group, and the answer says how they were made', () => {
    const sample = { method: 'time-slices' as const, slices: 4, logsPerSlice: 250 }
    const shaped = shapeHistogram(
      plan,
      [
        { bucket: 1, key: 'ERROR', rank: 1, n: 10.6 },
        { bucket: 1, key: 'INFO', rank: 2, n: 2.4 },
      ],
      sample,
    )
    expect(shaped.buckets[1]).toEqual({ start: '2026-11-26T10:15:00.000000Z', counts: { INFO: 2, ERROR: 11 }, other: 0, total: 13 })
    expect({ total: shaped.total, approximate: shaped.approximate, sample: shaped.sample }).toEqual({ total: 13, approximate: true, sample })
  })

  test('zero-fills: every bucket in time order, every group seen in every bucket, levels in level order', () => {
    const rows: HistogramRow[] = [
      { bucket: 2, key: 'INFO', rank: 1, n: 5 },
      { bucket: 0, key: 'ERROR', rank: 2, n: 3 },
      { bucket: 2, key: 'ERROR', rank: 2, n: 1 },
    ]
    expect(shapeHistogram(plan, rows)).toEqual({
      step: 900,
      from: '2026-11-26T10:00:00.000000Z',
      to: '2026-11-26T11:00:00.000000Z',
      group_by: 'level',
      groups: ['INFO', 'ERROR'],
      buckets: [
        { start: '2026-11-26T10:00:00.000000Z', counts: { INFO: 0, ERROR: 3 }, other: 0, total: 3 },
        { start: '2026-11-26T10:15:00.000000Z', counts: { INFO: 0, ERROR: 0 }, other: 0, total: 0 },
        { start: '2026-11-26T10:30:00.000000Z', counts: { INFO: 5, ERROR: 1 }, other: 0, total: 6 },
        { start: '2026-11-26T10:45:00.000000Z', counts: { INFO: 0, ERROR: 0 }, other: 0, total: 0 },
      ],
      total: 9,
      approximate: false,
    })
  })

  test('no logs: every bucket present with total 0', () => {
    const shaped = shapeHistogram(plan, [])
    expect(shaped.buckets.map((bucket) => [bucket.total, bucket.counts])).toEqual([
      [0, {}],
      [0, {}],
      [0, {}],
      [0, {}],
    ])
    expect(shaped.total).toBe(0)
  })

  test(`groups beyond the ${HistogramLimits.groupsMax} largest are summed in other, groups listed by rank`, () => {
    const byService = planHistogram({ buckets: '1', group_by: 'service' }, FROM, TO)
    const rows: HistogramRow[] = Array.from({ length: 22 }, (_, index) => ({ bucket: 0, key: `s${22 - index}`, rank: index + 1, n: 30 - index }))
    const shaped = shapeHistogram(byService, rows)
    expect(shaped.groups).toEqual(Array.from({ length: 20 }, (_, index) => `s${22 - index}`))
    expect(shaped.buckets[0]!.other).toBe(10 + 9)
    expect(shaped.buckets[0]!.total).toBe(shaped.total)
    expect(shaped.total).toBe(rows.reduce((sum, row) => sum + row.n, 0))
  })
})

describe('splitQuery', () => {
  test("the endpoint's own parameters apart; the rest for parseSearch, every tags value kept", () => {
    const split = splitQuery('http://localhost/histogram?step=1m&service=api&tags=a&tags=b&group_by=host&attr.user=1', ['buckets', 'step', 'group_by'])
    expect(split as { own: unknown; search: unknown }).toEqual({
      own: { step: '1m', group_by: 'host' },
      search: { service: 'api', tags: ['a', 'b'], 'attr.user': '1' },
    })
  })
})

describe('bucketSpans and histogramSources', () => {
  const MINUTE = 60e6
  test('the buckets as consecutive spans, the last one up to and including to', () => {
    expect(bucketSpans(planHistogram({ step: '20m' }, FROM, TO))).toEqual([
      { fromMicros: FROM, toMicros: FROM + 20 * MINUTE },
      { fromMicros: FROM + 20 * MINUTE, toMicros: FROM + 40 * MINUTE },
      { fromMicros: FROM + 40 * MINUTE, toMicros: TO + 1 },
    ])
  })

  test('buckets that would start after to are left out', () => {
    expect(bucketSpans(planHistogram({ buckets: '4' }, FROM, FROM + 5))).toEqual([
      { fromMicros: FROM, toMicros: FROM + 2 },
      { fromMicros: FROM + 2, toMicros: FROM + 4 },
      { fromMicros: FROM + 4, toMicros: FROM + 6 },
    ])
  })

  test('from a whole minute with whole-minute steps, only the minute starting at to is counted from rows', () => {
    for (const input of [{ step: '1m' }, { step: '5m' }, { buckets: '60' }, { buckets: '12' }, {}]) {
      const search = { ...parseSearch({ service: 'api' }), fromMicros: FROM, toMicros: TO }
      expect({ input, sources: histogramSources(search, planHistogram(input, FROM, TO), TO + HOUR) }).toEqual({
        input,
        sources: { minutes: [{ fromMicros: FROM, toMicros: TO }], rows: [{ fromMicros: TO, toMicros: TO + 1 }], excluded: [] },
      })
    }
  })

  test('a range ending now counts its last minute from log_counts, less the rows after to (none yet)', () => {
    const search = { ...parseSearch({}), fromMicros: FROM, toMicros: TO + 10e6 }
    expect(histogramSources(search, planHistogram({}, FROM, TO + 10e6), TO + 10e6)).toEqual({
      minutes: [{ fromMicros: FROM, toMicros: TO + 60e6 }],
      rows: [],
      excluded: [{ fromMicros: TO + 10e6 + 1, toMicros: TO + 60e6 }],
    })
  })

  test('a step that is not whole minutes reads the minutes bucket edges cut from rows; under a minute, only rows', () => {
    const search = { ...parseSearch({}), fromMicros: FROM, toMicros: TO }
    expect(histogramSources(search, planHistogram({ step: '90s' }, FROM, TO), TO)!.rows).toHaveLength(21)
    expect(histogramSources(search, planHistogram({ step: '30s' }, FROM, TO), TO)).toBeUndefined()
  })

  test('searches with q, tags, attributes, trace_id or a cursor count rows only', () => {
    expect(histogramSources({ ...parseSearch({ q: 'timeout' }), fromMicros: FROM, toMicros: TO }, planHistogram({}, FROM, TO), TO)).toBeUndefined()
  })
})
