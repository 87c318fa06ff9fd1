/**
 * The log explorer: the page's entry point. Its state is the URL (url-state.ts); every change of view is a
 * history entry (pushState) and `popstate` redraws whatever view the URL names, so back/forward and
 * bookmarks work. Nothing here builds HTML from strings: data only ever becomes text nodes.
 */
import {
  ApiError,
  apiError,
  type ContextAnswer,
  type FacetsAnswer,
  getJson,
  type HistogramAnswer,
  type Log,
  type QueryAnswer,
  type TraceAnswer,
} from './api.ts'
import { byId, h } from './dom.ts'
import { FacetFields, renderFacets } from './facets-view.ts'
import { count, fromLocalInput, toLocalInput } from './format.ts'
import { highlightTerms } from './highlight.ts'
import { histogramView } from './histogram-view.ts'
import { openTail, type Tail } from './live-tail.ts'
import { fetchWithKey, storedKey } from './read-key.ts'
import { isOpen, type RowActions, renderRow, toggleRow } from './rows-view.ts'
import { applyValue, type FacetAction, formatSearchText, parseSearchText } from './search-syntax.ts'
import { TailBuffer } from './tail-buffer.ts'
import {
  apiParams,
  histogramParams,
  readState,
  resolveTime,
  rfc3339,
  TimePresets,
  tailParams,
  type ViewState,
  withFilters,
  withParams,
  writeState,
} from './url-state.ts'

const PAGE = '100'
const CONTEXT = '25'
const TAIL_MAX = 1000
/** Scrolled further than this from the top, the reader is "away": the tail holds new logs back. */
const AWAY_PX = 24

const el = {
  form: byId<HTMLFormElement>('search'),
  input: byId<HTMLInputElement>('q'),
  searchError: byId('search-error'),
  presets: byId('presets'),
  range: byId<HTMLFormElement>('range'),
  rangeFrom: byId<HTMLInputElement>('range-from'),
  rangeTo: byId<HTMLInputElement>('range-to'),
  live: byId<HTMLButtonElement>('live'),
  exportNdjson: byId<HTMLAnchorElement>('export-ndjson'),
  exportCsv: byId<HTMLAnchorElement>('export-csv'),
  message: byId('message'),
  liveStatus: byId('live-status'),
  announcer: byId('announcer'),
  facets: byId('facets'),
  results: byId('results'),
  summary: byId('summary'),
  banner: byId('banner'),
  newLogs: byId<HTMLButtonElement>('new-logs'),
  list: byId('list'),
  rows: byId<HTMLOListElement>('rows'),
  older: byId<HTMLButtonElement>('older'),
  empty: byId('empty'),
}

let state: ViewState = readState(location.search)
let controller: AbortController | undefined
let params = new URLSearchParams()
let terms: string[] = []
let nextCursor: string | null = null
let total: number | undefined
let totalApproximate = false
let tail: Tail | undefined
let liveWanted = false
const buffer = new TailBuffer<Log>(TAIL_MAX)
const logs = new Map<string, Log>()
/** The drawn rows by log id: the list's DOM follows `buffer.rows` through it. */
const drawn = new Map<string, HTMLLIElement>()

const histogram = histogramView(byId('histogram'), (fromMicros, toMicros) =>
  navigate({ ...state, from: rfc3339(fromMicros), to: rfc3339(toMicros), log: undefined, trace: undefined }),
)

// ---- navigation -------------------------------------------------------------------------------------------

function navigate(next: ViewState, options: { replace?: boolean } = {}): void {
  const url = writeState(next)
  if (options.replace || url === location.search) history.replaceState(null, '', url)
  else history.pushState(null, '', url)
  state = next
  void load()
}

window.addEventListener('popstate', () => {
  state = readState(location.search)
  void load()
})

const searchState = (): ViewState => ({ ...state, log: undefined, trace: undefined })

const actions: RowActions = {
  onValue: applyFilter,
  logHref: (log) => writeState({ ...searchState(), log: log.id }),
  traceHref: (traceId) => writeState({ ...searchState(), trace: traceId }),
  follow(event, href) {
    const mouse = event as MouseEvent
    if (mouse.ctrlKey || mouse.metaKey || mouse.shiftKey || mouse.button === 1) return
    event.preventDefault()
    navigate(readState(new URL(href, location.href).search))
  },
  announce,
}

function applyFilter(field: string, value: string, action: FacetAction): void {
  const result = applyValue(state.filters, field, value, action)
  if (result.ok) navigate(withFilters(state, result.filters))
  else showMessage(result.error, 'warning')
}

// ---- messages ---------------------------------------------------------------------------------------------

function showMessage(text: string, kind: 'error' | 'warning' = 'error'): void {
  el.message.textContent = text
  el.message.className = kind
  el.message.hidden = false
}

function hideMessage(): void {
  el.message.hidden = true
  el.message.textContent = ''
}

function announce(text: string): void {
  el.announcer.textContent = ''
  // A new text node, so that screen readers announce the same words twice in a row.
  requestAnimationFrame(() => {
    el.announcer.textContent = text
  })
}

function describeError(error: unknown): string {
  if (error instanceof ApiError && error.status === 401) return `An API key with read scope is needed to see logs: ${error.message}. Search again to give one.`
  if (error instanceof ApiError && error.status === 403) return `This API key cannot read logs: ${error.message}. Search again to give another.`
  if (error instanceof ApiError) return error.parameter ? `${error.message} (parameter ${error.parameter})` : error.message
  return `The query API cannot be reached: ${(error as Error).message}`
}

// ---- controls ---------------------------------------------------------------------------------------------

function syncControls(): void {
  el.input.value = formatSearchText(state.filters)
  el.input.removeAttribute('aria-invalid')
  el.searchError.hidden = true
  for (const button of Array.from(el.presets.querySelectorAll<HTMLButtonElement>('button[data-from]'))) {
    button.setAttribute('aria-pressed', String(state.to === undefined && state.from === button.dataset.from))
  }
  const now = Date.now() * 1000
  const from = resolveTime(state.from, now)
  const to = resolveTime(state.to, now)
  if (from !== undefined) el.rangeFrom.value = toLocalInput(from)
  if (to !== undefined) el.rangeTo.value = toLocalInput(to)
  document.body.dataset.view = state.log ? 'log' : state.trace ? 'trace' : 'search'
}

el.form.addEventListener('submit', (event) => {
  event.preventDefault()
  const result = parseSearchText(el.input.value)
  if (!result.ok) {
    el.searchError.textContent = result.error
    el.searchError.hidden = false
    el.input.setAttribute('aria-invalid', 'true')
    return
  }
  navigate(withFilters(state, result.filters))
})

for (const preset of TimePresets) {
  el.presets.append(
    h(
      'button',
      { type: 'button', 'data-from': preset, 'aria-pressed': 'false', onclick: () => navigate({ ...searchState(), from: preset, to: undefined }) },
      preset,
    ),
  )
}

el.range.addEventListener('submit', (event) => {
  event.preventDefault()
  const from = fromLocalInput(el.rangeFrom.value)
  const to = fromLocalInput(el.rangeTo.value)
  if (from === undefined) showMessage('Give the start of the range.', 'warning')
  else if (to !== undefined && to < from) showMessage('The range ends before it starts.', 'warning')
  else navigate({ ...searchState(), from: rfc3339(from), to: to === undefined ? undefined : rfc3339(to) })
})

// ---- export -----------------------------------------------------------------------------------------------

/**
 * With a key held, a plain link would download a 401: the export is fetched with the key instead and saved
 * from a Blob, which holds the whole file in the browser's memory until it is saved (up to the export's
 * limit). Without a key (a server that asks for none) the link downloads as it streams, as before.
 */
async function download(link: HTMLAnchorElement): Promise<void> {
  try {
    const response = await fetchWithKey(link.href)
    if (!response.ok) throw await apiError(response, '/export')
    const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? 'logs'
    const url = URL.createObjectURL(await response.blob())
    h('a', { href: url, download: name }).click()
    // Revoked once the browser has surely taken the file; revoking at once can cancel the download.
    setTimeout(() => URL.revokeObjectURL(url), 60_000)
  } catch (error) {
    showMessage(describeError(error))
  }
}

for (const link of [el.exportNdjson, el.exportCsv]) {
  link.addEventListener('click', (event) => {
    if (!storedKey()) return
    event.preventDefault()
    void download(link)
  })
}

// ---- the list ---------------------------------------------------------------------------------------------

function rowFor(log: Log, options: { target?: boolean; fresh?: boolean } = {}): HTMLLIElement {
  logs.set(log.id, log)
  const row = renderRow(log, terms, actions, options)
  if (options.fresh) row.classList.add('fresh')
  drawn.set(log.id, row)
  return row
}

function showRows(list: readonly Log[], target?: string): void {
  logs.clear()
  drawn.clear()
  el.rows.replaceChildren(...list.map((log) => rowFor(log, { target: log.id === target })))
  el.empty.hidden = list.length > 0
  el.list.scrollTop = 0
}

function updateSummary(): void {
  if (state.log || state.trace) return
  const shown = buffer.rows.length
  const of = total === undefined ? '' : `${totalApproximate ? '≈' : ''}${count(total)} log${total === 1 ? '' : 's'} in range · `
  el.summary.textContent = `${of}showing ${count(shown)}${liveWanted ? ' · live' : ''}`
  el.older.hidden = nextCursor === null || buffer.trimmed
}

async function loadSearch(signal: AbortSignal): Promise<void> {
  params = apiParams(state, Date.now() * 1000)
  terms = highlightTerms(state.filters.q)
  el.exportNdjson.href = `/export?${withParams(params, { format: 'ndjson' })}`
  el.exportCsv.href = `/export?${withParams(params, { format: 'csv' })}`
  el.banner.hidden = true
  const [page, bars, fields] = await Promise.allSettled([
    getJson<QueryAnswer>('/query', withParams(params, { limit: PAGE }), signal),
    getJson<HistogramAnswer>('/histogram', histogramParams(params), signal),
    getJson<FacetsAnswer>('/facets', withParams(params, { fields: FacetFields.join(','), limit: '10' }), signal),
  ])
  if (signal.aborted) return
  const failure = [page, bars, fields].find((result) => result.status === 'rejected')
  if (failure) showMessage(describeError(failure.reason))
  total = bars.status === 'fulfilled' ? bars.value.total : undefined
  totalApproximate = bars.status === 'fulfilled' && bars.value.approximate === true
  if (bars.status === 'fulfilled') histogram.show(bars.value)
  else histogram.clear()
  if (fields.status === 'fulfilled') renderFacets(el.facets, fields.value, state.filters, applyFilter)
  else el.facets.replaceChildren()
  const answer = page.status === 'fulfilled' ? page.value : undefined
  buffer.seed(answer?.logs ?? [])
  nextCursor = answer?.pagination.has_more ? answer.pagination.next_cursor : null
  showRows(buffer.rows)
  if (!answer) el.empty.hidden = true
  updateSummary()
  if (liveWanted) startTail()
}

async function loadOlder(): Promise<void> {
  if (nextCursor === null) return
  el.older.disabled = true
  try {
    const page = await getJson<QueryAnswer>('/query', withParams(params, { limit: PAGE, cursor: nextCursor }))
    const added = buffer.append(page.logs)
    el.rows.append(...added.map((log) => rowFor(log)))
    nextCursor = page.pagination.has_more ? page.pagination.next_cursor : null
    updateSummary()
    announce(`${added.length} older logs loaded`)
  } catch (error) {
    showMessage(describeError(error))
  } finally {
    el.older.disabled = false
  }
}
el.older.addEventListener('click', () => void loadOlder())

async function loadContext(id: string, signal: AbortSignal): Promise<void> {
  const answer = await getJson<ContextAnswer>(`/query/${encodeURIComponent(id)}/context`, new URLSearchParams({ before: CONTEXT, after: CONTEXT }), signal)
  if (signal.aborted) return
  const list = [...answer.before, answer.log, ...answer.after]
  showBanner(`Log ${answer.log.id} of ${answer.log.service} with the ${answer.before.length} logs before and ${answer.after.length} after it, oldest first`)
  showRows(list, answer.log.id)
  const row = el.rows.querySelector<HTMLElement>('.row.target')
  if (row) {
    toggleRow(row, answer.log, actions, true)
    row.scrollIntoView({ block: 'center' })
    row.querySelector<HTMLElement>('.summary')?.focus({ preventScroll: true })
  }
}

async function loadTrace(id: string, signal: AbortSignal): Promise<void> {
  const answer = await getJson<TraceAnswer>(`/query/${encodeURIComponent(id)}`, undefined, signal)
  if (signal.aborted) return
  const more = answer.pagination.truncated ? ` (the first ${answer.logs.length}; the trace has more)` : ''
  showBanner(`Trace ${answer.trace_id}: ${count(answer.logs.length)} log${answer.logs.length === 1 ? '' : 's'}, oldest first${more}`)
  showRows(answer.logs)
}

function showBanner(text: string): void {
  const back = writeState(searchState())
  el.banner.replaceChildren(h('span', {}, text), h('a', { href: back, onclick: (event: Event) => actions.follow(event, back) }, '← Back to the search'))
  el.banner.hidden = false
  el.summary.textContent = ''
  el.older.hidden = true
}

async function load(): Promise<void> {
  controller?.abort()
  controller = new AbortController()
  const { signal } = controller
  // Set once this view has been drawn: what tests (and anyone scripting the page) wait for.
  const loading = writeState(state)
  delete document.body.dataset.loaded
  syncControls()
  hideMessage()
  stopTail()
  el.results.setAttribute('aria-busy', 'true')
  try {
    if (state.log) await loadContext(state.log, signal)
    else if (state.trace) await loadTrace(state.trace, signal)
    else await loadSearch(signal)
  } catch (error) {
    if (signal.aborted) return
    showMessage(describeError(error))
    showRows([])
    el.empty.hidden = true
  } finally {
    if (!signal.aborted) {
      el.results.setAttribute('aria-busy', 'false')
      document.body.dataset.loaded = loading
    }
  }
}

// ---- live tail --------------------------------------------------------------------------------------------

/** Brings the list's DOM in line with `buffer.rows`: new rows on top (one insertion), rows let go removed. */
function syncRows(fresh: boolean): void {
  const added: Log[] = []
  // New rows are at the top of buffer.rows, down to the first one already drawn.
  for (const log of buffer.rows) {
    if (drawn.has(log.id)) break
    added.push(log)
  }
  if (added.length > 0) {
    const fragment = document.createDocumentFragment()
    // Only a few rows at a time are flashed: hundreds of animations at once would cost more than they tell.
    for (const log of added) fragment.append(rowFor(log, { fresh: fresh && added.length <= 50 }))
    el.rows.prepend(fragment)
    el.empty.hidden = true
  }
  if (drawn.size > buffer.rows.length) {
    const kept = new Set(buffer.rows.map((log) => log.id))
    for (const [id, row] of drawn) {
      if (kept.has(id)) continue
      row.remove()
      drawn.delete(id)
      logs.delete(id)
    }
  }
}

// Logs from the tail are drawn in batches, at most every TAIL_BATCH_MS: at thousands of logs a second, one
// DOM update per log would be the page's bottleneck.
const TAIL_BATCH_MS = 50
let incoming: Log[] = []
let flushing: ReturnType<typeof setTimeout> | undefined

function receive(log: Log): void {
  incoming.push(log)
  if (flushing === undefined) flushing = setTimeout(flushIncoming, TAIL_BATCH_MS)
}

function flushIncoming(): void {
  flushing = undefined
  const batch = incoming
  incoming = []
  if (!tail) return
  for (const log of batch) buffer.push(log)
  syncRows(true)
  updateNewLogs()
  updateSummary()
}

function updateNewLogs(): void {
  const waiting = buffer.newCount
  el.newLogs.hidden = !(tail && buffer.paused && waiting > 0)
  el.newLogs.textContent = `${count(waiting)} new ↑`
  el.newLogs.setAttribute('aria-label', `${waiting} new logs; go to the top to show them`)
}

function setLiveStatus(text: string): void {
  el.liveStatus.textContent = text
  el.liveStatus.hidden = text === ''
}

/** Set when the server said the stream may be missing logs (`event: gap`); kept until the tail restarts. */
let gapNote = ''

function droppedText(): string {
  const dropped =
    buffer.dropped > 0
      ? ` · ${count(buffer.dropped)} log${buffer.dropped === 1 ? '' : 's'} dropped by the server (this page fell behind); they are stored: search to see them`
      : ''
  return dropped + (gapNote ? ` · some logs may be missing: ${gapNote}` : '')
}

function startTail(): void {
  if (tail || state.log || state.trace) return
  buffer.paused = el.list.scrollTop > AWAY_PX
  tail = openTail(tailParams(state), {
    onState(connection) {
      const words = { connecting: 'Live: connecting…', open: 'Live: waiting for new logs', reconnecting: 'Live: reconnecting…' }
      setLiveStatus(words[connection] + droppedText())
    },
    onLog: receive,
    onDropped(dropped) {
      buffer.noteDropped(dropped)
      setLiveStatus(`Live${droppedText()}`)
      announce(`The server dropped ${dropped} logs for this page`)
    },
    onGap(message) {
      gapNote = message || 'the server did not say why; search to see every stored log'
      setLiveStatus(`Live${droppedText()}`)
      announce('Some logs may be missing from the live tail')
    },
    onClosed(reason) {
      tail = undefined
      setLive(false)
      showMessage(reason, 'warning')
    },
  })
}

function stopTail(): void {
  tail?.close()
  tail = undefined
  gapNote = ''
  incoming = []
  if (buffer.paused) {
    buffer.resume()
    syncRows(false)
  }
  updateNewLogs()
  setLiveStatus('')
}

function setLive(on: boolean): void {
  liveWanted = on
  el.live.setAttribute('aria-pressed', String(on))
  if (!on) stopTail()
  updateSummary()
}

el.live.addEventListener('click', () => {
  setLive(!liveWanted)
  if (liveWanted) {
    hideMessage()
    if (state.log || state.trace) navigate(searchState())
    else startTail()
  }
})

el.list.addEventListener('scroll', () => {
  if (!tail) return
  const away = el.list.scrollTop > AWAY_PX
  if (away && !buffer.paused) buffer.pause()
  else if (!away && buffer.paused) {
    buffer.resume()
    syncRows(true)
  }
  updateNewLogs()
})

el.newLogs.addEventListener('click', () => {
  el.list.scrollTop = 0
  el.rows.querySelector<HTMLElement>('.summary')?.focus({ preventScroll: true })
})

// ---- keyboard ---------------------------------------------------------------------------------------------

const summaries = () => Array.from(el.rows.querySelectorAll<HTMLElement>('.row > .summary'))
let selected: HTMLElement | undefined

el.rows.addEventListener('focusin', (event) => {
  const summary = (event.target as HTMLElement).closest<HTMLElement>('.row')?.querySelector<HTMLElement>('.summary')
  if (summary) selected = summary
})

function move(delta: number): void {
  const all = summaries()
  if (all.length === 0) return
  const at = selected && document.contains(selected) ? all.indexOf(selected) : -1
  const next = all[Math.min(all.length - 1, Math.max(0, at === -1 ? 0 : at + delta))]!
  next.focus({ preventScroll: true })
  next.scrollIntoView({ block: 'nearest' })
}

function closeOpen(): void {
  const row = (selected?.closest<HTMLElement>('.row.open') ?? el.rows.querySelector<HTMLElement>('.row.open')) || undefined
  const log = row && logs.get(row.dataset.id ?? '')
  if (!row || !log) return
  toggleRow(row, log, actions, false)
  row.querySelector<HTMLElement>('.summary')?.focus()
}

document.addEventListener('keydown', (event) => {
  const target = event.target as HTMLElement
  const typing = target.matches('input, textarea, select, [contenteditable]')
  if (event.ctrlKey || event.metaKey || event.altKey) return
  if (event.key === 'Escape') {
    if (typing) target.blur()
    else closeOpen()
    return
  }
  if (typing) return
  if (event.key === '/') {
    event.preventDefault()
    el.input.focus()
    el.input.select()
  } else if (event.key === 'j' || event.key === 'k') {
    event.preventDefault()
    move(event.key === 'j' ? 1 : -1)
  } else if (event.key === 'Enter' && !target.matches('button, a, summary') && selected && document.contains(selected)) {
    event.preventDefault()
    const row = selected.closest<HTMLElement>('.row')!
    const log = logs.get(row.dataset.id ?? '')
    if (log) toggleRow(row, log, actions, !isOpen(row))
  }
})

// ---- start ------------------------------------------------------------------------------------------------

// A link without from/to (or with the page's own parameters in another order) is written out in full, in
// place: the address bar then says exactly what is shown.
navigate(state, { replace: true })
