/**
 * The explorer's state lives in its URL, with /query's parameter names: `/?service=web&level=error&q=timeout&from=1h`.
 * A bookmark or a shared link reopens the same view, and back/forward walk through the views.
 *
 * Besides the filters and `from` / `to`, two parameters of the page's own choose what the list shows
 * (they are never sent to /query):
 *   log=<id>      the logs around one log (GET /query/{id}/context), that log opened: the link to a log
 *   trace=<id>    every log of a trace, oldest first (GET /query/{trace_id})
 *
 * Pure: no DOM.
 */
import { formatMicros } from '../../log-entry.ts'
import { parseTime } from '../../time-range.ts'
import { type Filters, filtersFromParams, filtersToParams, isFilterParameter } from './search-syntax.ts'

export interface ViewState {
  filters: Filters
  /** As in the URL: relative (`1h`) or RFC 3339. */
  from: string
  to?: string
  log?: string
  trace?: string
  /**
   * Parameters neither the page nor /query's filters know (a typo such as `servce=web`). They are kept and
   * sent to the API, whose 400 names them, rather than dropped, which would silently widen the search.
   */
  extra: [string, string][]
}

/** The range a link without `from` or `to` shows. */
export const DEFAULT_FROM = '1h'
export const TimePresets = ['15m', '1h', '24h', '7d'] as const

/** Paging is the page's business ("load older"), not the view's: these are dropped from the URL. */
const PAGING = new Set(['limit', 'page', 'cursor'])
const OWN = new Set(['from', 'to', 'log', 'trace'])

export function readState(search: string): ViewState {
  const params = new URLSearchParams(search)
  const value = (name: string) => params.get(name)?.trim() || undefined
  const from = value('from')
  const to = value('to')
  const extra: [string, string][] = []
  for (const [name, item] of params) if (!isFilterParameter(name) && !OWN.has(name) && !PAGING.has(name)) extra.push([name, item])
  return {
    filters: filtersFromParams(params),
    from: from ?? DEFAULT_FROM,
    to,
    log: value('log'),
    trace: value('trace'),
    extra,
  }
}

/** The canonical query string of a state (with its `?`): filters first, in a fixed order, then the range, then the view. */
export function writeState(state: ViewState): string {
  const params = filtersToParams(state.filters)
  for (const [name, value] of state.extra) params.append(name, value)
  params.set('from', state.from)
  if (state.to !== undefined) params.set('to', state.to)
  if (state.log !== undefined) params.set('log', state.log)
  if (state.trace !== undefined) params.set('trace', state.trace)
  return `?${params.toString()}`
}

export function sameState(a: ViewState, b: ViewState): boolean {
  return writeState(a) === writeState(b)
}

/** RFC 3339 of epoch microseconds, as the API writes timestamps. */
export const rfc3339 = formatMicros

/** `from` / `to` as epoch microseconds at `nowMicros`; undefined when unreadable (the API then names it). */
export function resolveTime(value: string | undefined, nowMicros: number): number | undefined {
  if (value === undefined) return nowMicros
  return parseTime(value, nowMicros)
}

/**
 * The parameters every API call of one view shares: its filters, and its range as absolute times resolved
 * once, so that the histogram, the facets, the list and the export describe exactly the same logs.
 */
export function apiParams(state: ViewState, nowMicros: number): URLSearchParams {
  const params = filtersToParams(state.filters)
  for (const [name, value] of state.extra) params.append(name, value)
  const from = resolveTime(state.from, nowMicros)
  const to = resolveTime(state.to, nowMicros)
  params.set('from', from === undefined ? state.from : rfc3339(from))
  params.set('to', to === undefined ? (state.to ?? '') : rfc3339(to))
  return params
}

/** The parameters of a live tail: the filters only (a tail starts now). */
export function tailParams(state: ViewState): URLSearchParams {
  const params = filtersToParams(state.filters)
  for (const [name, value] of state.extra) params.append(name, value)
  return params
}

/** A copy of `params` with more parameters set. */
export function withParams(params: URLSearchParams, more: Record<string, string>): URLSearchParams {
  const copy = new URLSearchParams(params)
  for (const [name, value] of Object.entries(more)) copy.set(name, value)
  return copy
}

/** The state of the search view (no log or trace opened) with other filters, the same range. */
export function withFilters(state: ViewState, filters: Filters): ViewState {
  return { filters, from: state.from, to: state.to, extra: [] }
}
