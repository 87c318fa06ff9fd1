import { describe, expect, test } from 'bun:test'
import { planFacets, shapeFacet } from '../../../../src/lib/query/facets.ts'
import { queryRefusal } from '../../../support/query-refusal.ts'

const refused = (run: () => unknown): string => queryRefusal(run).parameter

describe('planFacets', () => {
  test('defaults to service, level, host and tags, 10 values each', () => {
    expect(planFacets({})).toEqual({
      facets: [
        { name: 'service', column: 'service' },
        { name: 'level', column: 'level' },
        { name: 'host', column: 'host' },
        { name: 'tags', column: 'tags' },
      ],
      limit: 10,
    })
  })

  test('fields is a comma list, duplicates dropped; attr.<path> is a metadata path', () => {
    expect(planFacets({ fields: ' level, attr.user.id,level', limit: '100' })).toEqual({
      facets: [
        { name: 'level', column: 'level' },
        { name: 'attr.user.id', attrPath: ['user', 'id'] },
      ],
      limit: 100,
    })
  })

  test('every bad value is a QueryInvalidError naming its parameter', () => {
    expect(refused(() => planFacets({ fields: 'message' }))).toBe('fields')
    expect(refused(() => planFacets({ fields: 'attr.' }))).toBe('fields')
    expect(refused(() => planFacets({ fields: 'attr.user..id' }))).toBe('fields')
    expect(refused(() => planFacets({ fields: Array.from({ length: 11 }, (_, index) => `attr.a${index}`).join(',') }))).toBe('fields')
    expect(refused(() => planFacets({ limit: '0' }))).toBe('limit')
    expect(refused(() => planFacets({ limit: '101' }))).toBe('limit')
    expect(refused(() => planFacets({ limit: 'all' }))).toBe('limit')
  })
})

describe('shapeFacet', () => {
  test('other is the sum over all values minus the listed ones; counts are exact', () => {
    expect(
      shapeFacet([
        { value: 'web', n: 12, overall: 20 },
        { value: null, n: 5, overall: 20 },
      ]),
    ).toEqual({
      values: [
        { value: 'web', count: 12 },
        { value: null, count: 5 },
      ],
      other: 3,
      approximate: false,
    })
    expect(shapeFacet([])).toEqual({ values: [], other: 0, approximate: false })
  })

  test('from a sample, estimates are whole numbers and the answer says how they were made', () => {
    const note = { method: 'time-slices' as const, slices: 50, logsPerSlice: 400 }
    expect(
      shapeFacet(
        [
          { value: 'load', n: 1200.4, overall: 2000.6 },
          { value: 'env:prod', n: 700.5, overall: 2000.6 },
        ],
        note,
      ),
    ).toEqual({
      values: [
        { value: 'load', count: 1200 },
        { value: 'env:prod', count: 701 },
      ],
      other: 100,
      approximate: true,
      sample: note,
    })
  })
})
