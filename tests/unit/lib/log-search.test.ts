import { describe, expect, test } from 'bun:test'
import type { Sql } from '../../../src/lib/db.ts'
import { DatabaseUnavailableError, type QueryInvalidError, QueryTimeoutError } from '../../../src/lib/errors.ts'
import { parseSearch, parseTraceId, type SearchInput, searchInput, searchLogs, traceLogs } from '../../../src/lib/log-search.ts'
import { failingSql, fakeSql } from '../../support/fake-sql.ts'
import { queryRefusal } from '../../support/query-refusal.ts'

const NOW = Date.parse('2026-03-10T12:00:00Z') * 1000

const refusal = (input: SearchInput, extra?: string[]): QueryInvalidError => queryRefusal(() => parseSearch(input, { nowMicros: NOW, extra }))

describe('parseSearch', () => {
  test('defaults to the first page of 100', () => {
    const search = parseSearch({}, NOW)
    expect(search.limit).toBe(100)
    expect(search.page).toBe(1)
    expect(search.cursor).toBeUndefined()
  })

  test('normalises levels: lower case, aliases, comma list, duplicates', () => {
    expect(parseSearch({ level: 'error, warning,ERR' }, NOW).levels).toEqual(['ERROR', 'WARN'])
  })

  test('splits tags given as a comma list and as repeated parameters', () => {
    expect(parseSearch({ tags: ['env:prod,region:eu', 'team:core'] }, NOW).tags).toEqual(['env:prod', 'region:eu', 'team:core'])
  })

  test('treats empty parameters as absent', () => {
    const search = parseSearch({ service: '', host: ' ', level: '', q: '' }, NOW)
    expect([search.service, search.host, search.levels, search.q]).toEqual([undefined, undefined, undefined, undefined])
  })

  test('normalises a UUID trace id to 32 lower-case hex digits', () => {
    expect(parseTraceId('4BF92F35-77B3-4DA6-A3CE-929D0E0E4736')).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
  })

  test.each([
    ['limit', { limit: 5000 }, /1 to 1000/],
    ['limit', { limit: '0' }, /1 to 1000/],
    ['limit', { limit: '10abc' }, /whole number/],
    ['page', { page: '1001' }, /1 to 1000/],
    ['from', { from: 'yesterday' }, /RFC 3339/],
    ['to', { to: '2024-02-30T00:00:00Z' }, /RFC 3339/],
    ['from', { from: '1h', to: '2h' }, /later than to/],
    ['level', { level: 'info,LOUD' }, /TRACE, DEBUG, INFO, WARN, ERROR, FATAL/],
    ['cursor', { cursor: 'abc' }, /next_cursor/],
    ['trace_id', { trace_id: 'xyz' }, /32 hex digits/],
    ['q', { q: '!!! ---' }, /letter or digit/],
    ['service', { service: 'a\u0000b' }, /NUL/],
    ['service', { service: 'x'.repeat(300) }, /at most 256/],
    ['tags', { tags: Array.from({ length: 101 }, (_, i) => `t${i}`) }, /at most 100/],
  ] as const)('refuses a bad %s with a message naming what it accepts', (parameter, input, message) => {
    const error = refusal(input as SearchInput)
    expect(error.parameter).toBe(parameter)
    expect(error.httpStatus).toBe(400)
    expect(error.message).toMatch(message)
  })
})

describe('parseSearch: attribute filters', () => {
  test('reads attr.<path>=value, =* and -attr., splitting the path at its dots', () => {
    expect(parseSearch({ 'attr.http.status': '500', 'attr.user.id': '*', '-attr.env': 'dev', '-attr.debug': '*' }, NOW).attr).toEqual([
      { parameter: 'attr.http.status', path: ['http', 'status'], value: '500', negate: false },
      { parameter: 'attr.user.id', path: ['user', 'id'], value: undefined, negate: false },
      { parameter: '-attr.env', path: ['env'], value: 'dev', negate: true },
      { parameter: '-attr.debug', path: ['debug'], value: undefined, negate: true },
    ])
  })

  test('keeps every value of a repeated parameter, once each, exactly as sent', () => {
    const filters = parseSearch({ 'attr.region': ['eu', ' us ', 'eu'] }, NOW).attr
    expect(filters?.map((filter) => filter.value)).toEqual(['eu', ' us '])
  })

  test('no attribute parameter: an empty list', () => {
    expect(parseSearch({}, NOW).attr).toEqual([])
  })

  test.each([
    ['attr.http..status', { 'attr.http..status': '1' }, /segment of the path must be non-empty/],
    ['attr.', { 'attr.': '1' }, /segment of the path must be non-empty/],
    ['-attr.a.', { '-attr.a.': '1' }, /segment of the path must be non-empty/],
    ['attr.a', { 'attr.a': '' }, /needs a value/],
    ['attr.a', { 'attr.a': 'x'.repeat(1025) }, /at most 1024 bytes/],
    ['attr.a', { 'attr.a': 'é'.repeat(513) }, /at most 1024 bytes/],
    ['attr.a', { 'attr.a': 'a\u0000b' }, /NUL/],
    ['attr.a', { 'attr.a': 'a\ud800b' }, /NUL character or broken UTF-16/],
    [`attr.${'k'.repeat(257)}`, { [`attr.${'k'.repeat(257)}`]: '1' }, /at most 256 characters/],
    ['attr.k20', Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`attr.k${i}`, 'v'])), /at most 20 attribute filters/],
    ['-attr.k', { 'attr.k': Array.from({ length: 20 }, (_, i) => `v${i}`), '-attr.k': '*' }, /at most 20 attribute filters/],
  ] as [string, SearchInput, RegExp][])('refuses %s with a 400 naming it', (parameter, input, message) => {
    const error = refusal(input)
    expect([error.parameter, error.httpStatus]).toEqual([parameter, 400])
    expect(error.message).toMatch(message)
  })

  test('accepts a value of exactly 1024 bytes and exactly 20 filters', () => {
    expect(parseSearch({ 'attr.a': 'x'.repeat(1024) }, NOW).attr).toHaveLength(1)
    expect(parseSearch(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`attr.k${i}`, 'v'])), NOW).attr).toHaveLength(20)
  })
})

describe('parseSearch: unknown parameters', () => {
  test('a parameter it does not know is a 400 naming it and listing the known ones', () => {
    const error = refusal({ servce: 'web' })
    expect(error.parameter).toBe('servce')
    expect(error.message).toBe(
      'unknown parameter "servce"; known: service, level, from, to, host, trace_id, tags, q, limit, page, cursor, attr.<path>, -attr.<path>',
    )
  })

  test.each(['attr', 'attrs.x', 'Service', '-service', 'tag'])('%s is unknown', (name) => {
    expect(refusal({ [name]: 'x' }).parameter).toBe(name)
  })

  test('is checked before the other parameters', () => {
    expect(refusal({ limit: '5000', servce: 'web' }).parameter).toBe('servce')
  })

  test("an endpoint's own parameters (extra) are neither read nor refused, and are listed as known", () => {
    const search = parseSearch({ service: 'api', buckets: '60', step: 'x' }, { nowMicros: NOW, extra: ['buckets', 'step', 'group_by'] })
    expect(search.service).toBe('api')
    expect(refusal({ bucket: '60' }, ['buckets', 'step', 'group_by']).message).toMatch(/known: service, .*cursor, buckets, step, group_by, attr.<path>/)
  })

  test('an undefined value is no parameter; the time may still be given as a number', () => {
    expect(parseSearch({ servce: undefined, from: '1h' }, NOW).fromMicros).toBe(NOW - 3_600e6)
  })
})

describe('searchInput', () => {
  test('keeps every value of tags and of repeated attribute filters, the first of anything else', () => {
    const params = new URLSearchParams('service=a&service=b&tags=x&attr.a=1&attr.a=2&attr.b=3&-attr.c=*&tags=y&servce=z')
    expect(searchInput(params)).toEqual({ service: 'a', tags: ['x', 'y'], 'attr.a': ['1', '2'], 'attr.b': '3', '-attr.c': '*', servce: 'z' })
  })
})

describe('searchLogs', () => {
  /**
   * A fake database that records, per statement run, the plan shape it was set up for: the planner settings
   * each shape turns off (search-plans.ts) name it. No row matches any search; `candidates` rows pass the
   * btree filters (what a sample's count of them says: by default more than any sample reads).
   */
  function recording(candidates = 1_000_000) {
    const db = fakeSql(async () => [])
    const plans: string[] = []
    const tag = (strings: TemplateStringsArray, ...values: unknown[]) => {
      const text = Array.isArray(strings) ? strings.join('') : ''
      const names = text.includes('set_config') ? (values[0] as string[]) : []
      if (names.includes('enable_bitmapscan')) plans.push('ordered')
      if (names.includes('enable_indexscan')) plans.push('bitmap')
      if (text.includes('count(*)::integer as n from (')) return Promise.resolve([{ n: candidates }])
      return (db.sql as unknown as (...args: unknown[]) => unknown)(strings, ...values)
    }
    const sql = Object.assign(tag, { unsafe: db.sql.unsafe, begin: (run: (tx: unknown) => unknown) => run(sql) }) as unknown as Sql
    return { sql, plans }
  }

  test.each([
    ['service and level', { service: 'api', level: 'error', from: '1h' }, ['ordered']],
    ['no filter', {}, ['ordered']],
    ['attr.<path>=* alone (a filter, not a GIN look-up)', { 'attr.http.status': '*' }, ['ordered']],
    ['-attr.<path>=value alone', { '-attr.http.status': '500' }, ['ordered']],
    ['trace_id, with other filters', { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', service: 'api', q: 'x' }, ['bitmap']],
    ['q matching nothing in the newest rows: the sample, then the GIN index', { q: 'refused' }, ['ordered', 'bitmap']],
    ['tags', { tags: 'env:prod' }, ['ordered', 'bitmap']],
    ['attr.<path>=value beside a negation', { 'attr.http.status': '500', '-attr.env': 'dev' }, ['ordered', 'bitmap']],
  ] as [string, SearchInput, string[]][])('%s: runs with the plans of its shape', async (_what, input, expected) => {
    const db = recording()
    expect((await searchLogs(db.sql, parseSearch(input, NOW))).logs).toEqual([])
    expect(db.plans).toEqual(expected)
  })

  test('q over fewer rows than a sample reads: the sample holds every candidate and is the answer, no GIN look-up', async () => {
    const db = recording(150)
    expect((await searchLogs(db.sql, parseSearch({ q: 'refused', service: 'quiet', from: '1m' }, NOW))).logs).toEqual([])
    expect(db.plans).toEqual(['ordered'])
  })

  test('the trace look-up runs with bitmap plans (the trace index)', async () => {
    const db = recording()
    expect((await traceLogs(db.sql, '4bf92f3577b34da6a3ce929d0e0e4736')).logs).toEqual([])
    expect(db.plans).toEqual(['bitmap'])
  })
})

describe('database failures at the data layer', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
  const cancelled = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' })

  test('searchLogs throws them typed, whichever path the search takes', async () => {
    await expect(searchLogs(failingSql(refused).sql, parseSearch({ service: 'api' }, NOW))).rejects.toBeInstanceOf(DatabaseUnavailableError)
    await expect(searchLogs(failingSql(refused).sql, parseSearch({ q: 'refused' }, NOW))).rejects.toBeInstanceOf(DatabaseUnavailableError)
    await expect(searchLogs(failingSql(refused).sql, parseSearch({ 'attr.a': '1' }, NOW))).rejects.toBeInstanceOf(DatabaseUnavailableError)
    await expect(searchLogs(failingSql(cancelled).sql, parseSearch({}, NOW))).rejects.toBeInstanceOf(QueryTimeoutError)
  })

  test('traceLogs throws them typed', async () => {
    await expect(traceLogs(failingSql(refused).sql, '4bf92f3577b34da6a3ce929d0e0e4736')).rejects.toThrow('cannot look up the trace: connect ECONNREFUSED')
  })

  test('a statement error is passed on as it is', async () => {
    const bug = Object.assign(new Error('column "lvl" does not exist'), { code: '42703' })
    await expect(searchLogs(failingSql(bug).sql, parseSearch({}, NOW))).rejects.toBe(bug)
  })
})
