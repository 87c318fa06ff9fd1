import { describe, expect, test } from 'bun:test'
import {
  applyValue,
  emptyFilters,
  type Filters,
  filtersFromParams,
  filtersToParams,
  formatSearchText,
  parseSearchText,
  quoteValue,
} from '../../../../../src/lib/explorer/page/search-syntax.ts'

const parsed = (text: string): Filters => {
  const result = parseSearchText(text)
  if (!result.ok) throw new Error(`expected ${JSON.stringify(text)} to parse: ${result.error}`)
  return result.filters
}
const refused = (text: string): string => {
  const result = parseSearchText(text)
  if (result.ok) throw new Error(`expected ${JSON.stringify(text)} to be refused; got ${JSON.stringify(result.filters)}`)
  return result.error
}
const params = (text: string) => filtersToParams(parsed(text)).toString()

describe('the search bar: text to /query parameters', () => {
  test('words, phrases, -excluded and or stay the full-text q, as written', () => {
    expect(parsed('timeout "connection reset" -healthcheck or -"GET /health"')).toEqual({
      ...emptyFilters(),
      q: 'timeout "connection reset" -healthcheck or -"GET /health"',
    })
  })

  test('service, level, host, trace_id, tags and attributes become their parameters; the rest is q', () => {
    expect(params('payment service:billing level:error host:billing-2 declined')).toBe('service=billing&level=error&host=billing-2&q=payment+declined')
    expect(params('trace_id:4bf92f3577b34da6a3ce929d0e0e4736')).toBe('trace_id=4bf92f3577b34da6a3ce929d0e0e4736')
    expect(params('tags:env:prod tag:region:eu')).toBe('tags=env%3Aprod&tags=region%3Aeu')
    expect(params('attr.http.status:500 -attr.env:staging attr.user.id:*')).toBe('attr.http.status=500&-attr.env=staging&attr.user.id=*')
  })

  test('a quoted field value keeps its spaces; \\" and \\\\ escape inside it', () => {
    expect(parsed('attr.order.note:"gift wrap" service:"my app"')).toMatchObject({
      service: 'my app',
      attrs: [{ path: 'order.note', value: 'gift wrap', negate: false }],
    })
    expect(parsed('attr.quote:"say \\"hi\\" \\\\ bye"').attrs[0]!.value).toBe('say "hi" \\ bye')
  })

  test('levels: any case and the API aliases; several add up; -level removes; written in level order', () => {
    expect(parsed('level:ERROR,warning').levels).toEqual(['warn', 'error'])
    expect(parsed('level:fatal level:err').levels).toEqual(['error', 'fatal'])
    expect(parsed('-level:debug -level:trace').levels).toEqual(['info', 'warn', 'error', 'fatal'])
    expect(parsed('level:error,warn -level:warn').levels).toEqual(['error'])
    // Every level is no level filter at all.
    expect(parsed('level:trace,debug,info,warn,error,fatal').levels).toBeUndefined()
  })

  test('field names are case-insensitive; "error: timeout" (nothing after the colon) is text', () => {
    expect(parsed('Service:api LEVEL:error')).toMatchObject({ service: 'api', levels: ['error'] })
    expect(parsed('error: timeout')).toEqual({ ...emptyFilters(), q: 'error: timeout' })
    expect(parsed('at 12:30:00')).toEqual({ ...emptyFilters(), q: 'at 12:30:00' })
  })

  test('refused, with a reason: unknown fields (a typo never turns into a text search), what the API cannot express', () => {
    expect(refused('sevice:api')).toContain('unknown field "sevice"')
    expect(refused('sevice:api')).toContain('"sevice:api"')
    expect(refused('level:loud')).toContain('"loud" is not a level')
    expect(refused('service:a service:b')).toContain('one service at a time')
    expect(refused('-service:api')).toContain('cannot exclude a service')
    expect(refused('-host:h')).toContain('cannot exclude a host')
    expect(refused('-tags:env:prod')).toContain('cannot exclude a tag')
    expect(refused('level:error -level:error')).toContain('no level')
    expect(refused('attr.:x')).toContain('every segment')
    expect(refused('attr.a..b:x')).toContain('every segment')
  })

  test('quoting text that looks like a field searches it as text', () => {
    expect(parsed('"user:alice" -"path:/x"')).toEqual({ ...emptyFilters(), q: '"user:alice" -"path:/x"' })
  })
})

describe('the search bar: parameters back to text', () => {
  test('canonical order: fields, then the text', () => {
    const filters = filtersFromParams(new URLSearchParams('q=timeout&level=warning,ERROR&service=api&tags=env:prod&-attr.env=staging&host=h1'))
    expect(formatSearchText(filters)).toBe('service:api level:warn,error host:h1 tags:env:prod -attr.env:staging timeout')
  })

  test('values that need it are quoted', () => {
    expect(quoteValue('plain')).toBe('plain')
    expect(quoteValue('two words')).toBe('"two words"')
    expect(quoteValue('say "hi"')).toBe('"say \\"hi\\""')
    expect(quoteValue('-dash')).toBe('"-dash"')
    expect(quoteValue('')).toBe('""')
  })

  test('text ↔ parameters round-trips', () => {
    for (const text of [
      'service:api level:warn,error host:web-1 trace_id:4bf92f3577b34da6a3ce929d0e0e4736 tags:env:prod tags:region:eu attr.http.status:500 -attr.env:staging attr.note:"gift wrap" timeout -"GET /health" or declined',
      'attr.weird:"a \\"b\\" \\\\"',
      '"user:alice" plain',
      '',
    ]) {
      const filters = parsed(text)
      expect(formatSearchText(filters)).toBe(text)
      expect(filtersFromParams(filtersToParams(filters))).toEqual(filters)
    }
  })

  test('a q from a URL whose word looks like a field is quoted in the bar, so searching again keeps it text', () => {
    const filters = filtersFromParams(new URLSearchParams('q=user:alice timeout'))
    expect(formatSearchText(filters)).toBe('"user:alice" timeout')
    expect(parsed(formatSearchText(filters)).service).toBeUndefined()
  })

  test('tags given as a comma list in the URL are separate tags', () => {
    expect(filtersFromParams(new URLSearchParams('tags=a,b&tags=c')).tags).toEqual(['a', 'b', 'c'])
  })
})

describe("including and excluding a value (facets, a log's fields)", () => {
  const apply = (filters: Filters, field: string, value: string, action: 'include' | 'exclude') => {
    const result = applyValue(filters, field, value, action)
    if (!result.ok) throw new Error(result.error)
    return result.filters
  }

  test('include sets service, host, trace_id; adds a tag; narrows level to one', () => {
    let filters = apply(emptyFilters(), 'service', 'api', 'include')
    filters = apply(filters, 'tags', 'env:prod', 'include')
    filters = apply(filters, 'level', 'ERROR', 'include')
    filters = apply(filters, 'host', 'api-1', 'include')
    expect(filtersToParams(filters).toString()).toBe('service=api&level=error&host=api-1&tags=env%3Aprod')
  })

  test('excluding a level keeps the others; attributes are negated with -attr.', () => {
    expect(apply(emptyFilters(), 'level', 'DEBUG', 'exclude').levels).toEqual(['trace', 'info', 'warn', 'error', 'fatal'])
    const filters = apply(emptyFilters(), 'attr.http.status', '500', 'exclude')
    expect(filtersToParams(filters).toString()).toBe('-attr.http.status=500')
  })

  test('including an attribute value replaces another included value of that path', () => {
    let filters = apply(emptyFilters(), 'attr.user.id', 'u1', 'include')
    filters = apply(filters, 'attr.user.id', 'u2', 'include')
    expect(filters.attrs).toEqual([{ path: 'user.id', value: 'u2', negate: false }])
  })

  test('exclusions the API has no parameter for are refused, not approximated', () => {
    for (const field of ['service', 'host', 'tags', 'trace_id']) expect(applyValue(emptyFilters(), field, 'x', 'exclude').ok).toBe(false)
  })
})
