import { describe, expect, test } from 'bun:test'
import { DatabaseUnavailableError, QueryInvalidError, QueryTimeoutError } from '../../../src/lib/errors.ts'
import { parseSearch, parseTraceId, type SearchInput, searchLogs, traceLogs } from '../../../src/lib/log-search.ts'
import { failingSql } from '../../support/fake-sql.ts'

const NOW = Date.parse('2026-03-10T12:00:00Z') * 1000

function refusal(input: SearchInput): QueryInvalidError {
  try {
    parseSearch(input, NOW)
  } catch (error) {
    if (error instanceof QueryInvalidError) return error
    throw error
  }
  throw new Error('expected a QueryInvalidError')
}

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

describe('database failures at the data layer', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
  const cancelled = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' })

  test('searchLogs throws them typed, whichever path the search takes', async () => {
    await expect(searchLogs(failingSql(refused).sql, parseSearch({ service: 'api' }, NOW), NOW)).rejects.toBeInstanceOf(DatabaseUnavailableError)
    await expect(searchLogs(failingSql(refused).sql, parseSearch({ q: 'refused' }, NOW), NOW)).rejects.toBeInstanceOf(DatabaseUnavailableError)
    await expect(searchLogs(failingSql(cancelled).sql, parseSearch({}, NOW), NOW)).rejects.toBeInstanceOf(QueryTimeoutError)
  })

  test('traceLogs throws them typed', async () => {
    await expect(traceLogs(failingSql(refused).sql, '4bf92f3577b34da6a3ce929d0e0e4736')).rejects.toThrow('cannot look up the trace: connect ECONNREFUSED')
  })

  test('a statement error is passed on as it is', async () => {
    const bug = Object.assign(new Error('column "lvl" does not exist'), { code: '42703' })
    await expect(searchLogs(failingSql(bug).sql, parseSearch({}, NOW), NOW)).rejects.toBe(bug)
  })
})
