import { describe, expect, test } from 'bun:test'
import { ContextLimits, parseContextParams, parseLogId } from '../../../../src/lib/query/context.ts'
import { queryRefusal } from '../../../support/query-refusal.ts'

const invalid = (run: () => unknown) => queryRefusal(run).parameter

describe('parseLogId', () => {
  test('reads the id /query returns: <kafka partition>-<kafka offset>', () => {
    expect(parseLogId('2-81723')).toEqual({ partition: 2, offset: '81723' })
    expect(parseLogId('0-0')).toEqual({ partition: 0, offset: '0' })
    expect(parseLogId('2147483647-9223372036854775806')).toEqual({ partition: 2_147_483_647, offset: '9223372036854775806' })
  })

  test('anything else is a 400 naming id', () => {
    for (const id of [
      '',
      'abc',
      '2',
      '2-',
      '-2',
      '2--1',
      '02-1',
      '2-01',
      '1-2-3',
      ' 1-2',
      '2147483648-1',
      '1-9223372036854775807',
      '4bf92f3577b34da6a3ce929d0e0e4736',
    ])
      expect({ id, parameter: invalid(() => parseLogId(id)) }).toEqual({ id, parameter: 'id' })
  })
})

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
