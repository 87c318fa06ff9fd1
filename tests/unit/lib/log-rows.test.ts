import { describe, expect, test } from 'bun:test'
import { fitBudget, RowLimits } from '../../../src/lib/log-rows.ts'

const sized = (...bytes: number[]) => bytes.map((size) => ({ bytes: size }))

describe('fitBudget', () => {
  test('keeps rows, in order, while their bytes add up to at most the budget', () => {
    expect(fitBudget(sized(400, 400, 200, 1), 1000)).toBe(3)
    expect(fitBudget(sized(400, 400, 201), 1000)).toBe(2)
  })

  test('always keeps the first row, however large, so a page always moves on', () => {
    expect(fitBudget(sized(5000, 1), 1000)).toBe(1)
  })

  test('every row when they all fit, and none of none', () => {
    expect(fitBudget(sized(1, 2, 3), 1000)).toBe(3)
    expect(fitBudget([], 1000)).toBe(0)
  })

  test('the default budget is RowLimits.pageBytes: four 1 MiB logs fit, a fifth does not', () => {
    expect(fitBudget(sized(...Array(5).fill(1024 * 1024)))).toBe(4)
    expect(RowLimits.pageBytes).toBe(4 * 1024 * 1024)
  })
})
