/**
 * The explorer's search bar: one line of text that says everything /query's filters say.
 *
 *   timeout "connection reset" -healthcheck service:api level:error,warn host:web-1
 *   tags:env:prod attr.http.status:500 -attr.env:staging attr.user.id:* trace_id:4bf9…
 *
 * Fields (`name:value`) become /query's parameters; every other word, "phrase", -excluded word and `or`
 * is the full-text `q`, passed on unchanged (PostgreSQL websearch syntax). A value with spaces is quoted:
 * `attr.note:"gift wrap"` (`\"` and `\\` inside). An unknown field (`sevice:api`) is an error, not text,
 * so a typo never silently turns into a text search; quote it to search the text: `"user:alice"`.
 *
 * Pure: no DOM, so the unit tests run it directly, and the page and the tests agree on the syntax.
 */
import { type Level, Levels, normaliseLevel } from '../../levels.ts'

export interface AttrFilter {
  /** Dotted metadata path, without the `attr.` prefix. */
  path: string
  /** The value, or `*` for "present". */
  value: string
  /** `-attr.`: not equal (or absent); with `*`: absent. */
  negate: boolean
}

/** The filters of a view, as /query takes them (time excepted: the range has controls of its own). */
export interface Filters {
  service?: string
  host?: string
  trace_id?: string
  /** Lower-case level names; undefined means every level. */
  levels?: string[]
  tags: string[]
  attrs: AttrFilter[]
  /** Full-text search, websearch syntax. */
  q?: string
}

export type ParseResult = { ok: true; filters: Filters } | { ok: false; error: string }

export const emptyFilters = (): Filters => ({ tags: [], attrs: [] })

const SINGLE = ['service', 'host', 'trace_id'] as const
type Single = (typeof SINGLE)[number]
const FIELD_NAMES = 'service, level, host, trace_id, tags, attr.<path>'
const ALL_LEVELS = Levels.map((level) => level.toLowerCase())

/** The filters the query API can negate; the others have no `-` form there. */
export const canExclude = (field: string): boolean => field === 'level' || field.startsWith('attr.')

interface Token {
  negate: boolean
  /** Set for `name:value`; the name as written (lower-cased unless it is an attr path). */
  field?: string
  value: string
  /** The value was in quotes (a phrase, for text). */
  quoted: boolean
  /** The token as written, for error messages. */
  raw: string
}

const FIELD_PREFIX = /^([A-Za-z_][\w.-]*):/

/** Splits the text into tokens: whitespace separates, quotes group, `-` negates, `name:` prefixes a field. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  const n = text.length
  while (i < n) {
    while (i < n && /\s/.test(text[i]!)) i++
    if (i >= n) break
    const start = i
    let negate = false
    if (text[i] === '-' && i + 1 < n && !/\s/.test(text[i + 1]!)) {
      negate = true
      i++
    }
    let field: string | undefined
    const prefix = FIELD_PREFIX.exec(text.slice(i))
    // A field needs a value right after the colon: "error: timeout" is two words of text.
    if (prefix && i + prefix[0].length < n && !/\s/.test(text[i + prefix[0].length]!)) {
      field = prefix[1]!
      i += prefix[0].length
    }
    let value = ''
    let quoted = false
    if (text[i] === '"') {
      quoted = true
      i++
      // Field values may escape \" and \\; text phrases are passed to websearch as they are.
      while (i < n && text[i] !== '"') {
        if (field !== undefined && text[i] === '\\' && i + 1 < n) i++
        value += text[i]
        i++
      }
      i++ // the closing quote (or the end: an unclosed quote runs to the end, as in websearch)
    } else {
      while (i < n && !/\s/.test(text[i]!)) value += text[i++]
    }
    tokens.push({ negate, field, value, quoted, raw: text.slice(start, Math.min(i, n)) })
  }
  return tokens
}

/**
 * Reads the search bar. Fields combine as /query combines them: service, host and trace_id take one value;
 * `level:` values add up (a log has one level) and `-level:` removes levels; tags and attributes must all match.
 */
export function parseSearchText(text: string): ParseResult {
  const filters = emptyFilters()
  const words: string[] = []
  const included = new Set<string>()
  const excluded = new Set<string>()
  const fail = (error: string): ParseResult => ({ ok: false, error })
  for (const token of tokenize(text)) {
    if (token.field === undefined) {
      if (token.value === '' && !token.quoted) continue
      words.push(`${token.negate ? '-' : ''}${token.quoted ? `"${token.value}"` : token.value}`)
      continue
    }
    const name = token.field.startsWith('attr.') ? token.field : token.field.toLowerCase()
    const value = token.value
    if (name.startsWith('attr.')) {
      const path = name.slice('attr.'.length)
      if (path === '' || path.split('.').some((segment) => segment === ''))
        return fail(`${token.raw}: an attribute path needs every segment, e.g. attr.http.status:500`)
      if (value === '') return fail(`${token.raw}: give a value, or * for "present"`)
      filters.attrs.push({ path, value, negate: token.negate })
      continue
    }
    if (value === '') return fail(`${token.raw}: give a value`)
    if ((SINGLE as readonly string[]).includes(name)) {
      const key = name as Single
      if (token.negate) return fail(`${token.raw}: the query API cannot exclude a ${key}; only level and attr.<path> can be excluded`)
      if (filters[key] !== undefined && filters[key] !== value) return fail(`one ${key} at a time: ${key}:${filters[key]} and ${key}:${value}`)
      filters[key] = value
      continue
    }
    if (name === 'level') {
      for (const item of value.split(',').filter(Boolean)) {
        const level = normaliseLevel(item)
        if (!level) return fail(`${token.raw}: "${item}" is not a level; use ${ALL_LEVELS.join(', ')}`)
        ;(token.negate ? excluded : included).add(level.toLowerCase())
      }
      continue
    }
    if (name === 'tags' || name === 'tag') {
      if (token.negate) return fail(`${token.raw}: the query API cannot exclude a tag; only level and attr.<path> can be excluded`)
      for (const tag of value.split(',').map((item) => item.trim())) if (tag !== '' && !filters.tags.includes(tag)) filters.tags.push(tag)
      continue
    }
    return fail(`unknown field "${token.field}" in ${token.raw}; fields are ${FIELD_NAMES}. To search the text, quote it: "${token.raw.replace(/^-/, '')}"`)
  }
  if (included.size > 0 || excluded.size > 0) {
    const levels = ALL_LEVELS.filter((level) => (included.size === 0 || included.has(level)) && !excluded.has(level))
    if (levels.length === 0) return fail('these level filters leave no level to show')
    if (levels.length < ALL_LEVELS.length) filters.levels = levels
  }
  if (words.length > 0) filters.q = words.join(' ')
  return { ok: true, filters }
}

/** A field value as the bar writes it: bare when it can be, else quoted with \" and \\ escaped. */
export function quoteValue(value: string): string {
  if (value !== '' && !/[\s"\\]/.test(value) && !value.startsWith('-')) return value
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}

/**
 * `q` as the bar shows it: unchanged, except that a bare word the bar would read as a field (`user:alice`)
 * is quoted, so that reading the text back gives the same `q`.
 */
function formatQuery(q: string): string {
  return tokenize(q)
    .map((token) => {
      if (token.field === undefined) return token.raw
      return `${token.negate ? '-' : ''}"${token.raw.slice(token.negate ? 1 : 0).replace(/"/g, '')}"`
    })
    .join(' ')
}

/** The canonical text of some filters: fields in a fixed order, then the text search. */
export function formatSearchText(filters: Filters): string {
  const parts: string[] = []
  if (filters.service !== undefined) parts.push(`service:${quoteValue(filters.service)}`)
  if (filters.levels !== undefined) parts.push(`level:${filters.levels.join(',')}`)
  if (filters.host !== undefined) parts.push(`host:${quoteValue(filters.host)}`)
  if (filters.trace_id !== undefined) parts.push(`trace_id:${quoteValue(filters.trace_id)}`)
  for (const tag of filters.tags) parts.push(`tags:${quoteValue(tag)}`)
  for (const attr of filters.attrs) parts.push(`${attr.negate ? '-' : ''}attr.${attr.path}:${quoteValue(attr.value)}`)
  if (filters.q) parts.push(formatQuery(filters.q))
  return parts.join(' ')
}

/** Appends the filters to /query-style parameters (same names: service, level, host, trace_id, tags, q, attr.*, -attr.*). */
export function filtersToParams(filters: Filters, params: URLSearchParams = new URLSearchParams()): URLSearchParams {
  if (filters.service !== undefined) params.append('service', filters.service)
  if (filters.levels !== undefined) params.append('level', filters.levels.join(','))
  if (filters.host !== undefined) params.append('host', filters.host)
  if (filters.trace_id !== undefined) params.append('trace_id', filters.trace_id)
  for (const tag of filters.tags) params.append('tags', tag)
  for (const attr of filters.attrs) params.append(`${attr.negate ? '-' : ''}attr.${attr.path}`, attr.value)
  if (filters.q) params.append('q', filters.q)
  return params
}

/** The names filtersFromParams reads; attr.* and -attr.* besides. */
export const FilterParameters = ['service', 'level', 'host', 'trace_id', 'tags', 'q'] as const

export const isFilterParameter = (name: string): boolean =>
  (FilterParameters as readonly string[]).includes(name) || name.startsWith('attr.') || name.startsWith('-attr.')

/** Reads the filters from /query-style parameters. Values the API would refuse are kept as they are: the API names them. */
export function filtersFromParams(params: URLSearchParams): Filters {
  const filters = emptyFilters()
  const one = (name: Single) => {
    const value = params.get(name)?.trim()
    if (value) filters[name] = value
  }
  for (const name of SINGLE) one(name)
  const level = params.get('level')
  if (level?.trim()) {
    filters.levels = level
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean)
      .map((item) => normaliseLevel(item)?.toLowerCase() ?? item)
  }
  for (const value of params.getAll('tags'))
    for (const tag of value.split(',').map((item) => item.trim())) if (tag && !filters.tags.includes(tag)) filters.tags.push(tag)
  for (const [name, value] of params) {
    if (name.startsWith('attr.')) filters.attrs.push({ path: name.slice(5), value, negate: false })
    else if (name.startsWith('-attr.')) filters.attrs.push({ path: name.slice(6), value, negate: true })
  }
  const q = params.get('q')?.trim()
  if (q) filters.q = q
  return filters
}

export type FacetAction = 'include' | 'exclude'

/**
 * Filters with one value included or excluded, as a facet click or a detail view's button asks:
 * `field` is service, level, host, trace_id, tags or attr.<path>. Returns an error for an exclusion the API
 * cannot express.
 */
export function applyValue(filters: Filters, field: string, value: string, action: FacetAction): ParseResult {
  const next: Filters = { ...filters, tags: [...filters.tags], attrs: [...filters.attrs] }
  if (action === 'exclude' && !canExclude(field))
    return { ok: false, error: `the query API cannot exclude a ${field === 'tags' ? 'tag' : field}; only level and attr.<path> can be excluded` }
  if (field.startsWith('attr.')) {
    const path = field.slice(5)
    const negate = action === 'exclude'
    // Including a value replaces another included value of the same path (both could never match).
    next.attrs = next.attrs.filter((attr) => !(attr.path === path && (attr.value === value || (!negate && !attr.negate))))
    next.attrs.push({ path, value, negate })
    return { ok: true, filters: next }
  }
  if (field === 'level') {
    const level = normaliseLevel(value)?.toLowerCase()
    if (!level) return { ok: false, error: `"${value}" is not a level` }
    const current = next.levels ?? ALL_LEVELS
    const levels = action === 'include' ? [level] : current.filter((item) => item !== level)
    if (levels.length === 0) return { ok: false, error: 'excluding this level leaves no level to show' }
    next.levels = levels.length === ALL_LEVELS.length ? undefined : levels
    return { ok: true, filters: next }
  }
  if (field === 'tags') {
    if (!next.tags.includes(value)) next.tags.push(value)
    return { ok: true, filters: next }
  }
  if ((SINGLE as readonly string[]).includes(field)) {
    next[field as Single] = value
    return { ok: true, filters: next }
  }
  return { ok: false, error: `unknown field ${field}` }
}

/** Levels in the API's order, lower-case, for the page's legend and colours. */
export const levelNames: readonly string[] = ALL_LEVELS
export type { Level }
