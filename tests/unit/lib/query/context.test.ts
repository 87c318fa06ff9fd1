import { describe, expect, test } from 'bun:test'
import { ContextLimits, parseContextParams } from '../../../../src/lib/query/context.ts'
import { queryRefusal } from '../../../support/query-refusal.ts'

const invalid = (run: () => unknown) => queryRefusal(run).parameter

describe('parseContextParams', () => {
  const parse = (query: string) => parseContextParams(new URLSearchParams(query))

  test('defaults: 20 before, 20 after, any host', () => {
    expect(parse('')).toEqual({ before: ContextLimits.default, after: ContextLimits.default, sameHost: false })
  })

  test('before and after from 0 to the maximum; same_host true or false', () => {
    expect(parse(`before=0&after=${ContextLimits.max}&same_host=true`)).toEqual({ before: 0, after: ContextLimits.max, sameHost: true })
    expect(parse('same_host=false&before=3')).toEqual({ before: 3, after: ContextLimits.default, sameHost: false })
  })

  test('out of range, not a number, or another parameter: a 400 naming it', () => {
    for (const [query, parameter] of <[string, string][]>[
      [`before=${ContextLimits.max + 1}`, 'before'],
      ['after=-1', 'after'],
      ['after=1.5', 'after'],
      ['before=ten', 'before'],
      ['same_host=1', 'same_host'],
      ['service=api', 'service'],
      ['limit=5', 'limit'],
    ])
      expect({ query, parameter: invalid(() => parse(query)) }).toEqual({ query, parameter })
  })
})
