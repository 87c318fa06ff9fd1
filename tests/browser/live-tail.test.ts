import { describe, expect, test } from 'bun:test'
import type { Page } from 'playwright-core'
import { eventually, freshDatabase } from '../support/infra.ts'
import { chromiumForFile, type PageUnderTest } from './support/browser.ts'
import { FakeTail, tailLog } from './support/fake-tail.ts'
import { generateLogs, insertLogs } from './support/logs.ts'
import { serveExplorer } from './support/server.ts'

/**
 * The page's side of the live tail, against a stand-in /tail that speaks the contract of issue 14
 * (support/fake-tail.ts): new logs on top, held back as "N new" while the reader has scrolled away, at
 * most 1000 rows, dropped logs announced, a refused tail explained. The real /tail, fed through gRPC,
 * is live-tail-grpc.test.ts.
 */
const database = await freshDatabase()
await insertLogs(database.sql, generateLogs(150, { nowMicros: Date.now() * 1000 - 60e6, spanMicros: 30 * 60e6, seed: 5 }))
const tail = new FakeTail()
const server = serveExplorer(database.sql, { intercept: tail.intercept })

const chromium = chromiumForFile(server)

/** The page at `path`, drawn, with the live tail switched on and connected. */
async function live(path: string, expected: string): Promise<PageUnderTest> {
  const under = await chromium.openPage()
  const { page } = under
  const readers = tail.readers
  await page.goto(`${server.url}${path}`)
  await page.waitForFunction((search) => document.body.dataset.loaded === search, expected)
  await page.click('#live')
  await page.waitForFunction(() => document.querySelector('#live-status')?.textContent?.includes('waiting for new logs'))
  await eventually(() => (tail.readers > readers ? true : undefined), 5000, 'the page to connect to /tail')
  return under
}

const rowIds = (page: Page) => page.$$eval('#rows > .row', (rows) => rows.map((row) => (row as HTMLElement).dataset.id))
const firstRowIs = (page: Page, id: string) =>
  page.waitForFunction((first) => (document.querySelector('#rows > .row') as HTMLElement | null)?.dataset.id === first, id)

describe('live tail in Chromium (against a stand-in /tail)', () => {
  test('asks /tail with the filters and no range; new logs appear at the top', async () => {
    const { page, problems } = await live('/?level=info,warn', '?level=info%2Cwarn&from=1h')
    const request = tail.requests.at(-1)!
    expect(request.search).toBe('?level=info%2Cwarn')
    expect(await page.getAttribute('#live', 'aria-pressed')).toBe('true')
    const before = (await rowIds(page)).length
    const first = tailLog({ message: 'the first live log' })
    tail.send(first)
    await firstRowIs(page, first.id)
    const second = tailLog({ level: 'WARN' })
    tail.send(second)
    await firstRowIs(page, second.id)
    expect((await rowIds(page)).slice(0, 2)).toEqual([second.id, first.id])
    expect(await rowIds(page)).toHaveLength(before + 2)
    expect(await page.getAttribute(`#rows > .row[data-id="${second.id}"]`, 'class')).toContain('lvl-warn')
    expect(problems).toEqual([])
  })

  test('scrolled away, new logs wait and the page says "N new"; back at the top they are shown, newest first', async () => {
    const { page } = await live('/', '?from=1h')
    await page.$eval('#list', (list) => {
      list.scrollTop = 400
    })
    await page.waitForFunction(() => document.querySelector('#list')!.scrollTop >= 400)
    const top = (await rowIds(page))[0]
    const waiting = [tailLog(), tailLog(), tailLog()]
    tail.send(...waiting)
    await page.waitForSelector('#new-logs:not([hidden])')
    await page.waitForFunction(() => document.querySelector('#new-logs')?.textContent === '3 new ↑')
    expect((await rowIds(page))[0]).toBe(top)
    expect(await page.$eval('#list', (list) => list.scrollTop)).toBeGreaterThanOrEqual(400)
    await page.click('#new-logs')
    await firstRowIs(page, waiting[2]!.id)
    expect((await rowIds(page)).slice(0, 3)).toEqual([waiting[2]!.id, waiting[1]!.id, waiting[0]!.id])
    await page.waitForSelector('#new-logs', { state: 'hidden' })
  })

  test('logs the server dropped for this page are announced', async () => {
    const { page } = await live('/', '?from=1h')
    tail.dropped(7)
    await page.waitForFunction(() => document.querySelector('#live-status')?.textContent?.includes('7 logs dropped by the server'))
    tail.dropped(5)
    await page.waitForFunction(() => document.querySelector('#live-status')?.textContent?.includes('12 logs dropped by the server'))
  })

  test("a gap in the stream is announced with the server's reason, and logs after it still arrive", async () => {
    const { page } = await live('/', '?from=1h')
    tail.gap('listen_interrupted', 'the server lost its connection to the database for a while')
    await page.waitForFunction(() =>
      document.querySelector('#live-status')?.textContent?.includes('some logs may be missing: the server lost its connection to the database'),
    )
    const after = tailLog({ message: 'after the gap' })
    tail.send(after)
    await firstRowIs(page, after.id)
  })

  test('keeps at most 1000 rows, the newest; "load older" goes away once older rows were let go', async () => {
    const { page } = await live('/', '?from=1h')
    expect(await page.isVisible('#older')).toBe(true)
    const logs = Array.from({ length: 1100 }, () => tailLog())
    tail.send(...logs)
    await firstRowIs(page, logs.at(-1)!.id)
    await page.waitForFunction(() => document.querySelectorAll('#rows > .row').length === 1000)
    const ids = await rowIds(page)
    expect(ids).toHaveLength(1000)
    expect(ids.at(-1)).toBe(logs[100]!.id)
    expect(await page.isVisible('#older')).toBe(false)
  })

  test('switching live off closes the stream', async () => {
    const { page } = await live('/', '?from=1h')
    const readers = tail.readers
    await page.click('#live')
    expect(await page.getAttribute('#live', 'aria-pressed')).toBe('false')
    await eventually(() => (tail.readers < readers ? true : undefined), 5000, 'the page to close its /tail stream')
    expect(await page.isVisible('#live-status')).toBe(false)
  })

  test('a server without /tail (404): the page says live tail is not available, and the rest still works', async () => {
    tail.status = 404
    try {
      const under = await chromium.openPage()
      const { page } = under
      await page.goto(`${server.url}/`)
      await page.waitForFunction(() => document.body.dataset.loaded === '?from=1h')
      await page.click('#live')
      await page.waitForSelector('#message:not([hidden])')
      expect(await page.textContent('#message')).toContain('Live tail is not available: this server has no GET /tail (it answered 404)')
      expect(await page.getAttribute('#live', 'aria-pressed')).toBe('false')
      expect(await page.$$eval('#rows > .row', (rows) => rows.length)).toBe(100)
    } finally {
      tail.status = 200
    }
  })
})
