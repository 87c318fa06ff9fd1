import { describe, expect, test } from 'bun:test'
import { parseSearch } from '../../../src/lib/log-search.ts'
import { nextSampleRows } from '../../../src/lib/search-rows.ts'

describe('nextSampleRows', () => {
  const tags = parseSearch({ tags: 'env:staging', limit: '100' })

  test('twice the rows the last share of matches says hold the page (limit + 1 matches)', () => {
    // 10 matches in 2,000 rows: 101 need ~20,200 rows; twice that.
    expect(nextSampleRows(tags, 2_000, 10)).toBe(40_400)
  })

  test('at least twice the last sample, at most the cap (a fifth of it with q)', () => {
    expect(nextSampleRows(tags, 2_000, 100)).toBe(4_040)
    expect(nextSampleRows(tags, 2_000, 101)).toBe(4_000)
    expect(nextSampleRows(tags, 2_000, 1)).toBe(100_000)
    expect(nextSampleRows(parseSearch({ q: 'timeout', limit: '100' }), 2_000, 1)).toBe(20_000)
  })

  test('0 (go to the GIN index) after a sample with no match, or once the cap was read', () => {
    expect(nextSampleRows(tags, 2_000, 0)).toBe(0)
    expect(nextSampleRows(tags, 100_000, 50)).toBe(0)
  })

  test('past an offset, the offset counts as matches the sample held', () => {
    const page3 = parseSearch({ tags: 'env:staging', limit: '100', page: '3' })
    // 200 matches before the page and 20 on it, in 2,000 rows: 301 need ~2,736 rows; twice that.
    expect(nextSampleRows(page3, 2_000, 20)).toBe(5_473)
    // Nothing past the offset: at most 200 matches held.
    expect(nextSampleRows(page3, 2_000, 0)).toBe(6_020)
  })
})
