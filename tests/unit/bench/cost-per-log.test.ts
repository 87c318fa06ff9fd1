import { describe, expect, test } from 'bun:test'
import { cpuMicrosPerLog, perLog, sumOf } from '../../../bench/cost-per-log.ts'

describe('cost per log', () => {
  test('divides by the logs stored, scaled', () => {
    expect(perLog(2.5, 100_000, 1e6)).toBe(25)
    expect(perLog(1_000, 10)).toBe(100)
  })

  test('is unknown when the quantity is, or when nothing was stored', () => {
    expect(perLog(undefined, 10)).toBeUndefined()
    expect(perLog(1, 0)).toBeUndefined()
  })

  test('turns CPU seconds by stage into CPU-µs per log by stage', () => {
    expect(cpuMicrosPerLog({ ingest: 1, kafka: 0.5, consume: undefined }, 50_000)).toEqual({ ingest: 20, kafka: 10, consume: undefined })
  })

  test('a total over stages is unknown if any of them is, never a smaller partial sum', () => {
    expect(sumOf<'a' | 'b' | 'c'>({ a: 1, b: 2, c: 4 }, ['a', 'b'])).toBe(3)
    expect(sumOf({ a: 1, b: undefined }, ['a', 'b'])).toBeUndefined()
  })
})
