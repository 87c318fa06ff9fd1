import { describe, expect, test } from 'bun:test'
import { type HistogramAnswer, layoutHistogram, niceCeiling, selectedRange, timeAt } from '../../../../../src/lib/explorer/page/histogram-layout.ts'

const answer: HistogramAnswer = {
  step: 900,
  from: '2026-11-26T10:00:00.000000Z',
  to: '2026-11-26T11:00:00.000000Z',
  group_by: 'level',
  groups: ['INFO', 'ERROR'],
  buckets: [
    { start: '2026-11-26T10:00:00.000000Z', counts: { INFO: 6, ERROR: 2 }, other: 0, total: 8 },
    { start: '2026-11-26T10:15:00.000000Z', counts: { INFO: 0, ERROR: 0 }, other: 0, total: 0 },
    { start: '2026-11-26T10:30:00.000000Z', counts: { INFO: 3, ERROR: 0 }, other: 0, total: 3 },
    { start: '2026-11-26T10:45:00.000000Z', counts: { INFO: 0, ERROR: 1 }, other: 0, total: 1 },
  ],
  total: 12,
}
const FROM = Date.UTC(2026, 10, 26, 10) * 1000
const MINUTE = 60e6

describe('histogram geometry', () => {
  test('the scale tops at a round number', () => {
    expect([0, 1, 3, 8, 11, 20, 21, 499, 501].map(niceCeiling)).toEqual([1, 1, 5, 10, 20, 20, 50, 500, 1000])
  })

  test('one bar per bucket, segments stacked from the bottom in level order, heights proportional', () => {
    const layout = layoutHistogram(answer, 400, 100, ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'])
    expect(layout.max).toBe(10)
    expect(layout.bars.map((bar) => bar.x)).toEqual([0, 100, 200, 300])
    const [first] = layout.bars
    expect(first!.segments).toEqual([
      { group: 'INFO', count: 6, y: 40, height: 60 },
      { group: 'ERROR', count: 2, y: 20, height: 20 },
    ])
    expect(layout.bars[1]!.segments).toEqual([])
    expect(layout.bars.reduce((sum, bar) => sum + bar.total, 0)).toBe(answer.total)
  })

  test('a drag selects the times under it', () => {
    const layout = layoutHistogram(answer, 400, 100)
    expect(timeAt(layout, 200)).toBe(FROM + 30 * MINUTE)
    expect(selectedRange(layout, 300, 100)).toEqual({ fromMicros: FROM + 15 * MINUTE, toMicros: FROM + 45 * MINUTE })
    // Past the edges: clamped to the plot.
    expect(selectedRange(layout, -50, 900)).toEqual({ fromMicros: FROM, toMicros: FROM + 60 * MINUTE })
  })

  test('a click selects its bucket; `to` is inclusive, so one microsecond before the next bucket (the last one ends at `to`)', () => {
    const layout = layoutHistogram(answer, 400, 100)
    expect(selectedRange(layout, 150, 151)).toEqual({ fromMicros: FROM + 15 * MINUTE, toMicros: FROM + 30 * MINUTE - 1 })
    expect(selectedRange(layout, 399, 399)).toEqual({ fromMicros: FROM + 45 * MINUTE, toMicros: FROM + 60 * MINUTE })
  })

  test('no buckets: nothing to select', () => {
    expect(selectedRange(layoutHistogram({ ...answer, buckets: [], total: 0 }, 400, 100), 0, 100)).toBeNull()
  })
})
