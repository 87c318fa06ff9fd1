import { describe, expect, test } from 'bun:test'
import { splitQuery } from '../../../../src/lib/query/routes.ts'

describe('splitQuery', () => {
  test("takes the endpoint's own parameters out and leaves the filters as /query reads them, repeated ones included", () => {
    const { own, search } = splitQuery('http://localhost/histogram?step=1m&service=web&tags=a&tags=b&attr.k=1&attr.k=2&-attr.x=*', ['buckets', 'step'])
    expect(own).toEqual({ step: '1m' })
    expect(search).toEqual({ service: 'web', tags: ['a', 'b'], 'attr.k': ['1', '2'], '-attr.x': '*' })
  })
})
