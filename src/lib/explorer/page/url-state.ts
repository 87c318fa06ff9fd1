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
import { isRelativeTime, parseRfc3339, parseTime } from '../../time-range.ts'
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

const MINUTE_MICROS = 60e6

/**
 * The parameters every API call of one view shares: its filters, and its range as absolute times resolved
 * once, so that the histogram, the facets, the list and the export describe exactly the same logs. A
 * relative `from` ("the last hour") starts on a whole minute: the histogram's buckets then start on whole
 * minutes too (histogramParams), which the server counts from its per-minute totals instead of the rows.
 */
export function apiParams(state: ViewState, nowMicros: number): URLSearchParams {
  const params = filtersToParams(state.filters)
  for (const [name, value] of state.extra) params.append(name, value)
  const resolved = resolveTime(state.from, nowMicros)
  const from = resolved !== undefined && isRelativeTime(state.from) ? Math.floor(resolved / MINUTE_MICROS) * MINUTE_MICROS : resolved
  const to = resolveTime(state.to, nowMicros)
  params.set('from', from === undefined ? state.from : rfc3339(from))
  params.set('to', to === undefined ? (state.to ?? '') : rfc3339(to))
  return params
}

/** Bars the histogram aims for; a step of whole minutes makes it up to one more. */
export const HISTOGRAM_BARS = 60

/**
 * The /histogram parameters of a view (`params` from apiParams): over an hour or more, a step of whole
 * minutes giving about HISTOGRAM_BARS bars, so that bucket edges fall on whole minutes when `from` does;
 * shorter ranges (or unreadable times, which the API will name) HISTOGRAM_BARS buckets.
 */
export function histogramParams(params: URLSearchParams): URLSearchParams {
  const from = parseRfc3339(params.get('from') ?? '')
  const to = parseRfc3339(params.get('to') ?? '')
  const minutes = from === undefined || to === undefined ? 0 : (to - from) / MINUTE_MICROS
  const bars: Record<string, string> = minutes >= HISTOGRAM_BARS ? { step: `${Math.ceil(minutes / HISTOGRAM_BARS)}m` } : { buckets: String(HISTOGRAM_BARS) }
  return withParams(params, { ...bars, group_by: 'level' })
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
