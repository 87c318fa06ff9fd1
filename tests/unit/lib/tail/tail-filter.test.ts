import { describe, expect, test } from 'bun:test'
import type { LogView } from '../../../../src/lib/log-rows.ts'
import { parseSearch, type SearchInput } from '../../../../src/lib/log-search.ts'
import { asciiLower, type FilterInput, filterInput, matchesFields, queryMayMatch, tailFilter } from '../../../../src/lib/tail/tail-filter.ts'

const NOW = Date.parse('2026-11-27T12:00:00Z') * 1000

const view = (overrides: Partial<LogView> = {}): LogView => ({
  id: '0-1',
  timestamp: '2026-11-27T11:59:00.000000Z',
  service: 'checkout',
  level: 'ERROR',
  message: 'payment declined',
  metadata: {},
  trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
  span_id: null,
  host: 'web-1',
  tags: ['env:prod', 'team:pay'],
  ingested_at: '2026-11-27T11:59:00.100000Z',
  ...overrides,
})

const input = (overrides: Partial<LogView> = {}): FilterInput => filterInput(view(overrides))

const matches = (parameters: SearchInput, log: Partial<LogView> = {}) => matchesFields(tailFilter(parseSearch(parameters, NOW)), input(log))

describe('matchesFields: the /query filters, decided in memory', () => {
  test('service, host and trace_id are exact; absent host never equals one', () => {
    expect(matches({ service: 'checkout' })).toBe(true)
    expect(matches({ service: 'Checkout' })).toBe(false)
    expect(matches({ host: 'web-1' })).toBe(true)
    expect(matches({ host: 'web-1' }, { host: null })).toBe(false)
    expect(matches({ trace_id: '4BF92F35-77B3-4DA6-A3CE-929D0E0E4736' })).toBe(true)
    expect(matches({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4737' })).toBe(false)
  })

  test('level takes a list and aliases, as on /query', () => {
    expect(matches({ level: 'warn,err' })).toBe(true)
    expect(matches({ level: 'info' })).toBe(false)
  })

  test('from and to are inclusive bounds, relative ones fixed when the stream opens', () => {
    expect(matches({ from: '2026-11-27T11:59:00Z' })).toBe(true)
    expect(matches({ from: '2026-11-27T11:59:00.000001Z' })).toBe(false)
    expect(matches({ to: '2026-11-27T11:59:00Z' })).toBe(true)
    expect(matches({ from: '30s' })).toBe(false)
    expect(matches({ from: '2m' })).toBe(true)
  })

  test('tags: every one asked for must be carried', () => {
    expect(matches({ tags: ['env:prod', 'team:pay'] })).toBe(true)
    expect(matches({ tags: 'env:prod,env:dev' })).toBe(false)
  })

  test('filters are ANDed', () => {
    expect(matches({ service: 'checkout', level: 'error', host: 'web-2' })).toBe(false)
  })
})

describe('matchesFields: attr.<path> as metadata @> / @? decide it', () => {
  const metadata = {
    http: { status: 500, method: 'GET', retried: false, note: null, codes: [500, 502] },
    'user.id': 'u42',
    ratio: 1.5,
    list: [{ name: 'a' }, 'x', [{ name: 'deep' }]],
    constructor: 'own key',
  }
  const attr = (parameters: SearchInput) => matches(parameters, { metadata })

  test('a value matches as a string or, spelled as one, as a number, boolean or null', () => {
    expect(attr({ 'attr.http.status': '500' })).toBe(true)
    expect(attr({ 'attr.http.status': '500.0' })).toBe(true)
    expect(attr({ 'attr.http.status': '5e2' })).toBe(true)
    expect(attr({ 'attr.http.method': 'GET' })).toBe(true)
    expect(attr({ 'attr.http.method': 'get' })).toBe(false)
    expect(attr({ 'attr.http.retried': 'false' })).toBe(true)
    expect(attr({ 'attr.http.note': 'null' })).toBe(true)
    expect(attr({ 'attr.ratio': '1.50' })).toBe(true)
  })

  test('a number stored as a string matches only its own spelling', () => {
    expect(matches({ 'attr.code': '500' }, { metadata: { code: '500' } })).toBe(true)
    expect(matches({ 'attr.code': '500.0' }, { metadata: { code: '500' } })).toBe(false)
  })

  test('the dotted path is nested objects or one key with dots, either one', () => {
    expect(attr({ 'attr.user.id': 'u42' })).toBe(true)
    expect(attr({ 'attr.user.id': '*' })).toBe(true)
  })

  test('values inside arrays are not equal, but present', () => {
    expect(attr({ 'attr.http.codes': '500' })).toBe(false)
    expect(attr({ 'attr.http.codes': '*' })).toBe(true)
  })

  test('presence looks one level into arrays (jsonpath lax mode), not two', () => {
    expect(attr({ 'attr.list.name': '*' })).toBe(true)
    expect(matches({ 'attr.list.name': '*' }, { metadata: { list: [[{ name: 'deep' }]] } })).toBe(false)
    expect(attr({ 'attr.http.status.code': '*' })).toBe(false)
  })

  test('null is present; keys are the object’s own, never inherited', () => {
    expect(attr({ 'attr.http.note': '*' })).toBe(true)
    expect(attr({ 'attr.toString': '*' })).toBe(false)
    expect(attr({ 'attr.constructor': 'own key' })).toBe(true)
  })

  test('-attr. negates: not equal or absent; -attr.<path>=* absent', () => {
    expect(attr({ '-attr.http.status': '404' })).toBe(true)
    expect(attr({ '-attr.http.status': '500' })).toBe(false)
    expect(attr({ '-attr.missing': '*' })).toBe(true)
    expect(attr({ '-attr.http': '*' })).toBe(false)
  })
})

describe('queryMayMatch', () => {
  const query = (tsquery: string) => tailFilter(parseSearch({ q: 'x' }, NOW), tsquery).query!

  test('an ASCII message without a required word is ruled out; one with it goes to PostgreSQL', () => {
    expect(queryMayMatch(query("'declined'"), input())).toBe(true)
    expect(queryMayMatch(query("'timeout'"), input())).toBe(false)
  })

  test('a message with non-ASCII text always goes to PostgreSQL (its lower-casing differs from JavaScript’s)', () => {
    expect(asciiLower('İstanbul')).toBeUndefined()
    expect(queryMayMatch(query("'timeout'"), input({ message: 'İstanbul' }))).toBe(true)
  })

  test('an empty query matches nothing', () => {
    expect(queryMayMatch(query(''), input())).toBe(false)
  })
})
