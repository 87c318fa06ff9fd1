import { describe, expect, test } from 'bun:test'
import { sampleSlices } from '../../../../src/lib/query/facet-sample.ts'

describe('sampleSlices', () => {
  test('equal consecutive slices from from up to and including to', () => {
    expect(sampleSlices(100, 199, 4)).toEqual([
      { fromMicros: 100, toMicros: 125 },
      { fromMicros: 125, toMicros: 150 },
      { fromMicros: 150, toMicros: 175 },
      { fromMicros: 175, toMicros: 200 },
    ])
  })

  test('a range shorter than the number of slices gets one slice per microsecond', () => {
    expect(sampleSlices(10, 11, 50)).toEqual([
      { fromMicros: 10, toMicros: 11 },
      { fromMicros: 11, toMicros: 12 },
    ])
  })

  test('the last slice is cut at to when the range does not divide evenly', () => {
    expect(sampleSlices(0, 9, 3)).toEqual([
      { fromMicros: 0, toMicros: 4 },
      { fromMicros: 4, toMicros: 8 },
      { fromMicros: 8, toMicros: 10 },
    ])
  })
})
