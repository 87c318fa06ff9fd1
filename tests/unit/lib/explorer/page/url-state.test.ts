import { describe, expect, test } from 'bun:test'
import { apiParams, DEFAULT_FROM, histogramParams, readState, tailParams, writeState } from '../../../../../src/lib/explorer/page/url-state.ts'

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0) * 1000

describe('the URL holds the view, with /query parameter names', () => {
  test("filters, range and the page's own log / trace parameters are read back as written", () => {
    const state = readState('?service=web&level=error&q=timeout&from=1h')
    expect(state).toMatchObject({ filters: { service: 'web', levels: ['error'], q: 'timeout' }, from: '1h' })
    expect(writeState(state)).toBe('?service=web&level=error&q=timeout&from=1h')
    expect(writeState(readState('?log=0-17&from=1h'))).toBe('?from=1h&log=0-17')
    expect(readState('?trace=4bf92f3577b34da6a3ce929d0e0e4736').trace).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
  })

  test('no range means the last hour, written out', () => {
    expect(readState('?service=web').from).toBe(DEFAULT_FROM)
    expect(writeState(readState('?service=web'))).toBe('?service=web&from=1h')
  })

  test('canonical order, whatever order the link had', () => {
    expect(writeState(readState('?from=24h&q=x&tags=a&service=s&attr.k=v'))).toBe('?service=s&tags=a&attr.k=v&q=x&from=24h')
  })

  test("paging parameters are the page's business and are dropped; unknown ones are kept so the API can name them", () => {
    const state = readState('?servce=web&limit=5&cursor=abc&page=2')
    expect(state.extra).toEqual([['servce', 'web']])
    expect(writeState(state)).toBe('?servce=web&from=1h')
    expect(apiParams(state, NOW).get('servce')).toBe('web')
  })
})

describe('API parameters', () => {
  test('relative times are resolved once, so every call of a view sees the same range', () => {
    const params = apiParams(readState('?service=web&from=15m'), NOW)
    expect(params.get('from')).toBe('2026-11-26T11:45:00.000000Z')
    expect(params.get('to')).toBe('2026-11-26T12:00:00.000000Z')
    expect(params.get('service')).toBe('web')
    expect(params.has('log')).toBe(false)
  })

  test('a relative from starts on a whole minute; to stays now', () => {
    const params = apiParams(readState('?from=1h'), NOW + 30_500_000)
    expect(params.get('from')).toBe('2026-11-26T11:00:00.000000Z')
    expect(params.get('to')).toBe('2026-11-26T12:00:30.500000Z')
  })

  test('absolute times pass through, kept to the microsecond', () => {
    const params = apiParams(readState('?from=2026-11-26T10:00:00.123456Z&to=2026-11-26T11:00:00Z'), NOW)
    expect(params.get('from')).toBe('2026-11-26T10:00:00.123456Z')
    expect(params.get('to')).toBe('2026-11-26T11:00:00.000000Z')
  })

  test('an unreadable time is sent as it is, for the API to name', () => {
    expect(apiParams(readState('?from=yesterday'), NOW).get('from')).toBe('yesterday')
  })

  test('the histogram over an hour or more asks for a step of whole minutes, about 60 bars', () => {
    const at = NOW + 30_500_000
    expect(histogramParams(apiParams(readState('?service=web&from=1h'), at)).toString()).toBe(
      'service=web&from=2026-11-26T11%3A00%3A00.000000Z&to=2026-11-26T12%3A00%3A30.500000Z&step=2m&group_by=level',
    )
    expect(histogramParams(apiParams(readState('?from=24h'), NOW)).get('step')).toBe('24m')
    expect(histogramParams(apiParams(readState('?from=7d'), NOW)).get('step')).toBe('168m')
    expect(histogramParams(apiParams(readState('?from=60m'), NOW)).get('step')).toBe('1m')
  })

  test('the histogram of a shorter range, or of times the API will refuse, asks for 60 buckets', () => {
    const short = histogramParams(apiParams(readState('?from=15m'), NOW))
    expect([short.get('buckets'), short.has('step'), short.get('group_by')]).toEqual(['60', false, 'level'])
    expect(histogramParams(apiParams(readState('?from=yesterday'), NOW)).get('buckets')).toBe('60')
  })

  test('the live tail takes the filters and no range', () => {
    expect(tailParams(readState('?service=web&level=error&from=1h&to=2026-11-26T11:00:00Z&log=0-1')).toString()).toBe('service=web&level=error')
  })
})
