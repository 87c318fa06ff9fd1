import { describe, expect, test } from 'bun:test'
import type { Page } from 'playwright-core'
import type { LogView } from '../../src/lib/log-rows.ts'
import { freshDatabase } from '../support/infra.ts'
import { chromiumForFile, type FileBrowser, type PageUnderTest } from './support/browser.ts'
import { generateLogs, insertLogs } from './support/logs.ts'
import { serveExplorer } from './support/server.ts'

/**
 * The log explorer in real headless Chromium (Debian's chromium, driven by playwright-core), served by the
 * query API on a free port over a database of its own holding 260 generated logs of the last 45 minutes.
 * Every wait is for a condition (the page sets body[data-loaded] to the view it has drawn), never a sleep.
 */
const database = await freshDatabase()
const NOW = Date.now() * 1000
const generated = generateLogs(260, { nowMicros: NOW - 60e6, spanMicros: 44 * 60e6, seed: 3 })
await insertLogs(database.sql, generated)
const server = serveExplorer(database.sql)

const chromium = chromiumForFile(server)

async function open(path: string, options: Parameters<FileBrowser['openPage']>[0] = {}): Promise<PageUnderTest> {
  const under = await chromium.openPage(options)
  await under.page.goto(`${server.url}${path}`)
  return under
}

/** Waits until the page has drawn the view of this query string. */
async function loaded(page: Page, search: string): Promise<void> {
  await page.waitForFunction((expected) => document.body.dataset.loaded === expected, search, { timeout: 10_000 })
}

interface ShownRow {
  id: string
  service: string
  level: string
  host: string
  message: string
  marks: string[]
}

const shownRows = (page: Page): Promise<ShownRow[]> =>
  page.$$eval('#rows > .row', (rows) =>
    rows.map((row) => ({
      id: (row as HTMLElement).dataset.id ?? '',
      service: row.querySelector('.service')?.textContent ?? '',
      level: row.querySelector('.level')?.textContent ?? '',
      host: row.querySelector('.host')?.textContent ?? '',
      message: row.querySelector('.msg')?.textContent ?? '',
      marks: Array.from(row.querySelectorAll('.msg mark'), (mark) => mark.textContent ?? ''),
    })),
  )

const histogramTotal = (page: Page) => page.$eval('#histogram svg', (svg) => Number(svg.getAttribute('data-total')))
const barSum = (page: Page) => page.$$eval('#histogram svg .bar', (bars) => bars.reduce((sum, bar) => sum + Number(bar.getAttribute('data-count')), 0))

/** Clicks "Load older" until every matching log is listed. */
async function loadAll(page: Page): Promise<void> {
  for (;;) {
    const older = page.locator('#older')
    if (!(await older.isVisible())) return
    const before = await page.locator('#rows > .row').count()
    await older.click()
    await page.waitForFunction((count) => document.querySelectorAll('#rows > .row').length > count, before, { timeout: 10_000 })
  }
}

const words = (message: string) => message.toLowerCase().split(/[^a-z0-9]+/)
const sortedIds = (rows: { id: string }[]) => rows.map((row) => row.id).sort()

describe('the log explorer in Chromium', () => {
  test('the page loads with no console errors, writes its default range into the URL and shows the newest logs', async () => {
    const { page, problems } = await open('/')
    await loaded(page, '?from=1h')
    expect(new URL(page.url()).search).toBe('?from=1h')
    const rows = await shownRows(page)
    expect(rows).toHaveLength(100)
    const newest = [...generated].sort((a, b) => b.micros - a.micros)[0]!
    expect(rows[0]!.message).toBe(newest.message)
    await page.waitForSelector('#facets .facet-field')
    expect(await page.title()).toBe('LogStream explorer')
    expect(problems).toEqual([])
  })

  test('a search updates the URL and the rows, with the searched word highlighted', async () => {
    const { page, problems } = await open('/')
    await loaded(page, '?from=1h')
    await page.fill('#q', 'service:billing timeout')
    await page.press('#q', 'Enter')
    await loaded(page, '?service=billing&q=timeout&from=1h')
    expect(new URL(page.url()).search).toBe('?service=billing&q=timeout&from=1h')
    const expected = generated.filter((log) => log.service === 'billing' && words(log.message).includes('timeout'))
    expect(expected.length).toBeGreaterThan(0)
    const rows = await shownRows(page)
    expect(rows).toHaveLength(expected.length)
    for (const row of rows) {
      expect(row.service).toBe('billing')
      expect(row.marks.map((mark) => mark.toLowerCase())).toContain('timeout')
    }
    expect(await histogramTotal(page)).toBe(expected.length)
    expect(await page.inputValue('#q')).toBe('service:billing timeout')
    expect(problems).toEqual([])
  })

  test('histogram total equals the row count (every page loaded with "load older", by cursor)', async () => {
    const { page } = await open('/?from=1h')
    await loaded(page, '?from=1h')
    await loadAll(page)
    const rows = await shownRows(page)
    expect(rows).toHaveLength(generated.length)
    expect(new Set(rows.map((row) => row.id)).size).toBe(generated.length)
    expect(await histogramTotal(page)).toBe(rows.length)
    expect(await barSum(page)).toBe(rows.length)
    expect(await page.textContent('#summary')).toContain(`${generated.length} logs in range · showing ${generated.length}`)
  })

  test('a facet click adds a filter; alt-click excludes; an exclusion the API cannot make is explained', async () => {
    const { page, problems } = await open('/')
    await loaded(page, '?from=1h')
    await page.click('#facets button.value[data-field="service"][data-value="api"]')
    await loaded(page, '?service=api&from=1h')
    expect(await page.inputValue('#q')).toBe('service:api')
    const api = generated.filter((log) => log.service === 'api')
    expect(await histogramTotal(page)).toBe(api.length)
    expect(new Set((await shownRows(page)).map((row) => row.service))).toEqual(new Set(['api']))

    await page.click('#facets button.value[data-field="level"][data-value="INFO"]', { modifiers: ['Alt'] })
    await loaded(page, '?service=api&level=trace%2Cdebug%2Cwarn%2Cerror%2Cfatal&from=1h')
    expect(await page.inputValue('#q')).toBe('service:api level:trace,debug,warn,error,fatal')
    const rows = await shownRows(page)
    expect(rows.length).toBe(api.filter((log) => log.level !== 'INFO').length)
    expect(rows.some((row) => row.level === 'INFO')).toBe(false)

    // The query API has no -service: say so rather than pretend.
    await page.click('#facets button.value[data-field="host"]', { modifiers: ['Alt'] })
    await page.waitForSelector('#message:not([hidden])')
    expect(await page.textContent('#message')).toContain('cannot exclude a host')
    expect(new URL(page.url()).search).toBe('?service=api&level=trace%2Cdebug%2Cwarn%2Cerror%2Cfatal&from=1h')
    expect(problems).toEqual([])
  })

  test('an opened row shows every field, metadata as JSON, with include/exclude on its values', async () => {
    const source = generated.find((log) => log.trace_id && log.host && log.level === 'ERROR')!
    const response = await fetch(`${server.url}/query?trace_id=${source.trace_id}&limit=100`)
    const log = ((await response.json()) as { logs: LogView[] }).logs.find((item) => item.message === source.message)!
    const { page, problems } = await open(`/?trace_id=${log.trace_id}`)
    await loaded(page, `?trace_id=${log.trace_id}&from=1h`)
    await page.click(`#rows > .row[data-id="${log.id}"] .summary`)
    const detail = page.locator(`#rows > .row[data-id="${log.id}"] .detail`)
    await detail.waitFor()
    expect(await page.getAttribute(`#rows > .row[data-id="${log.id}"] .summary`, 'aria-expanded')).toBe('true')
    const fields = await detail.locator('tr[data-field]').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.field))
    // Every field of the log, then each metadata value by its attribute path (in the order PostgreSQL keeps the keys).
    const leaves = (value: unknown, path: string): string[] =>
      value !== null && typeof value === 'object' ? Object.entries(value).flatMap(([key, item]) => leaves(item, `${path}.${key}`)) : [path]
    expect([...fields].sort()).toEqual([...Object.keys(log), ...leaves(log.metadata, 'attr')].sort())
    expect(leaves(log.metadata, 'attr').sort()).toEqual(['attr.duration_ms', 'attr.http.method', 'attr.http.status', 'attr.user.id'])
    const value = (field: string) => detail.locator(`tr[data-field="${field}"] .field-value`).textContent()
    for (const field of ['id', 'timestamp', 'service', 'level', 'host', 'trace_id', 'span_id', 'ingested_at', 'message'] as const) {
      expect(await value(field)).toBe(String(log[field]))
    }
    expect(await detail.locator('tr[data-field="tags"] .tag').allTextContents()).toEqual(log.tags.map((tag) => `${tag}+`))
    expect(JSON.parse((await value('metadata')) ?? '')).toEqual(log.metadata)
    expect(await value('attr.http.status')).toBe('500')
    expect(await value('attr.user.id')).toBe(String(log.metadata['user.id']))
    for (const label of ['Show context', 'Link to this log', 'Copy link', 'Copy JSON', 'Open trace']) {
      expect(await detail.getByText(label, { exact: true }).count()).toBe(1)
    }
    // Excluding a metadata value adds -attr.<path>=value and leaves this log out.
    await detail.locator('tr[data-field="attr.http.status"] button.exclude').click()
    await loaded(page, `?trace_id=${log.trace_id}&-attr.http.status=500&from=1h`)
    expect((await shownRows(page)).some((row) => row.id === log.id)).toBe(false)
    expect(problems).toEqual([])
  })

  test('"show context" and the trace link open their views; back returns to the search', async () => {
    const { page, problems } = await open('/?service=web')
    await loaded(page, '?service=web&from=1h')
    const first = (await shownRows(page))[5]!
    await page.click(`#rows > .row[data-id="${first.id}"] .summary`)
    await page.click(`#rows > .row[data-id="${first.id}"] .detail a.context`)
    await loaded(page, `?service=web&from=1h&log=${first.id}`)
    expect(await page.isVisible('#banner')).toBe(true)
    expect(await page.getAttribute(`#rows > .row.target[data-id="${first.id}"] .summary`, 'aria-expanded')).toBe('true')
    expect(new Set((await shownRows(page)).map((row) => row.service))).toEqual(new Set(['web']))

    const traced = generated.filter((log) => log.trace_id)
    const traceId = traced[0]!.trace_id!
    await page.goto(`${server.url}/?trace=${traceId}`)
    await loaded(page, `?from=1h&trace=${traceId}`)
    expect(sortedIds(await shownRows(page))).toHaveLength(traced.filter((log) => log.trace_id === traceId).length)
    // Back to another document: Chromium may restore it from its back/forward cache, which fires no load event.
    await page.goBack({ waitUntil: 'commit' })
    await loaded(page, `?service=web&from=1h&log=${first.id}`)
    await page.click('#banner a')
    await loaded(page, '?service=web&from=1h')
    expect(problems).toEqual([])
  })

  test('back/forward restores the state: URL, search bar and rows', async () => {
    const { page, problems } = await open('/')
    await loaded(page, '?from=1h')
    const all = sortedIds(await shownRows(page))
    await page.fill('#q', 'service:auth')
    await page.press('#q', 'Enter')
    await loaded(page, '?service=auth&from=1h')
    const auth = sortedIds(await shownRows(page))
    await page.click('#facets button.value[data-field="level"][data-value="INFO"]')
    await loaded(page, '?service=auth&level=info&from=1h')

    await page.goBack()
    await loaded(page, '?service=auth&from=1h')
    expect(await page.inputValue('#q')).toBe('service:auth')
    expect(sortedIds(await shownRows(page))).toEqual(auth)
    await page.goBack()
    await loaded(page, '?from=1h')
    expect(await page.inputValue('#q')).toBe('')
    expect(sortedIds(await shownRows(page))).toEqual(all)
    await page.goForward()
    await loaded(page, '?service=auth&from=1h')
    expect(sortedIds(await shownRows(page))).toEqual(auth)
    await page.goForward()
    await loaded(page, '?service=auth&level=info&from=1h')
    expect(new Set((await shownRows(page)).map((row) => `${row.service} ${row.level}`))).toEqual(new Set(['auth INFO']))
    expect(problems).toEqual([])
  })

  test('dragging over the histogram zooms the time range', async () => {
    const { page } = await open('/')
    await loaded(page, '?from=1h')
    const box = (await page.locator('#histogram svg').boundingBox())!
    await page.mouse.move(box.x + box.width * 0.5, box.y + 40)
    await page.mouse.down()
    await page.mouse.move(box.x + box.width * 0.7, box.y + 40, { steps: 4 })
    await page.mouse.up()
    await page.waitForFunction(() => new URLSearchParams(location.search).has('to') && document.body.dataset.loaded === location.search)
    const params = new URL(page.url()).searchParams
    const from = Date.parse(params.get('from')!) * 1000
    const to = Date.parse(params.get('to')!) * 1000
    expect(to).toBeGreaterThan(from)
    const inside = generated.filter((log) => log.micros >= from && log.micros <= to + 1000)
    expect(Math.abs((await histogramTotal(page)) - inside.length)).toBeLessThanOrEqual(1)
    expect(await page.getAttribute('#presets button[data-from="1h"]', 'aria-pressed')).toBe('false')
  })

  test('keyboard: / focuses the search, j/k move, Enter opens, Esc closes', async () => {
    const { page } = await open('/')
    await loaded(page, '?from=1h')
    await page.keyboard.press('/')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('q')
    await page.keyboard.press('Escape')
    await page.keyboard.press('j')
    await page.keyboard.press('j')
    await page.keyboard.press('k')
    await page.keyboard.press('j')
    const rows = await shownRows(page)
    expect(await page.evaluate(() => (document.activeElement?.closest('.row') as HTMLElement | null)?.dataset.id)).toBe(rows[1]!.id)
    await page.keyboard.press('Enter')
    await page.waitForSelector(`#rows > .row[data-id="${rows[1]!.id}"] .detail`)
    await page.keyboard.press('Escape')
    await page.waitForSelector(`#rows > .row[data-id="${rows[1]!.id}"] .detail`, { state: 'detached' })
    expect(await page.evaluate(() => (document.activeElement?.closest('.row') as HTMLElement | null)?.dataset.id)).toBe(rows[1]!.id)
  })

  test('bad input is explained: an unknown search field in the bar, an unknown URL parameter from the API', async () => {
    const { page } = await open('/')
    await loaded(page, '?from=1h')
    await page.fill('#q', 'sevice:api')
    await page.press('#q', 'Enter')
    await page.waitForSelector('#search-error:not([hidden])')
    expect(await page.textContent('#search-error')).toContain('unknown field "sevice"')
    expect(new URL(page.url()).search).toBe('?from=1h')

    await page.goto(`${server.url}/?servce=web`)
    await loaded(page, '?servce=web&from=1h')
    expect(await page.textContent('#message')).toContain('unknown parameter "servce"')
  })

  test('the export links carry the same filters and range: NDJSON has exactly the histogram total', async () => {
    const { page } = await open('/?level=error,fatal')
    await loaded(page, '?level=error%2Cfatal&from=1h')
    const href = (await page.getAttribute('#export-ndjson', 'href'))!
    const params = new URL(href, server.url).searchParams
    expect(params.get('level')).toBe('error,fatal')
    expect(params.get('format')).toBe('ndjson')
    const lines = (await (await fetch(new URL(href, server.url))).text()).trim().split('\n')
    expect(lines).toHaveLength(await histogramTotal(page))
    expect(lines.length).toBe(generated.filter((log) => log.level === 'ERROR' || log.level === 'FATAL').length)
    expect(new URL((await page.getAttribute('#export-csv', 'href'))!, server.url).searchParams.get('format')).toBe('csv')
  })

  test('dark mode follows the system', async () => {
    const background = async (scheme: 'light' | 'dark') => {
      const { page, problems } = await open('/', { colorScheme: scheme })
      await loaded(page, '?from=1h')
      const colours = await page.evaluate(() => {
        const channels = (colour: string) => (colour.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number)
        const luminance = (colour: string) => channels(colour).reduce((sum, value) => sum + value, 0) / 3 / 255
        return {
          dark: matchMedia('(prefers-color-scheme: dark)').matches,
          body: luminance(getComputedStyle(document.body).backgroundColor),
          text: luminance(getComputedStyle(document.body).color),
          row: luminance(getComputedStyle(document.querySelector('#rows .summary .msg')!).color),
        }
      })
      expect(problems).toEqual([])
      return colours
    }
    const dark = await background('dark')
    expect(dark.dark).toBe(true)
    expect(dark.body).toBeLessThan(0.15)
    expect(dark.text).toBeGreaterThan(0.8)
    expect(dark.row).toBeGreaterThan(0.8)
    const light = await background('light')
    expect(light.body).toBeGreaterThan(0.9)
    expect(light.text).toBeLessThan(0.2)
  })
})
