import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { generateKey, type KeyRecord, type Scope } from '../../src/lib/auth/api-key.ts'
import { KeyRing } from '../../src/lib/auth/key-ring.ts'
import { httpError } from '../../src/lib/errors.ts'
import { checkReadKey, refusalHeaders } from '../../src/lib/query/require-key.ts'
import { eventually, freshDatabase } from '../support/infra.ts'
import { chromiumForFile } from './support/browser.ts'
import { FakeTail, tailLog } from './support/fake-tail.ts'
import { generateLogs, insertLogs } from './support/logs.ts'
import { serveExplorer } from './support/server.ts'

/**
 * The explorer against a query API that requires keys (issue 15), in headless Chromium: the page asks for a
 * read key in its own dialog on the first 401, keeps it in sessionStorage only, sends it as Authorization:
 * Bearer on every request (searches, the live tail, exports), and asks again when the key is revoked or cannot
 * read. /tail is the stand-in of live-tail.test.ts behind the same key check as the app's (require-key.ts),
 * so the page's own stream client is what is tested here; the real /tail's keys are in
 * tests/integration/lib/query-app-auth.test.ts.
 */
const database = await freshDatabase()
const generated = generateLogs(150, { nowMicros: Date.now() * 1000 - 60e6, spanMicros: 30 * 60e6, seed: 11 })
await insertLogs(database.sql, generated)

const made = (scope: Scope) => {
  const { key, id, hash } = generateKey()
  return { key, record: { id, name: `${scope} key`, scope, hash } satisfies KeyRecord }
}
const ingestKey = made('ingest')
let readKey = made('read')
const ring = new KeyRing([readKey.record, ingestKey.record])

const tail = new FakeTail()
tail.retryMs = 50
/** Authorization and Last-Event-ID of every /tail request, in order. */
const tailRequests: { authorization: string | null; lastEventId: string | null }[] = []
const server = serveExplorer(database.sql, {
  authenticator: ring,
  intercept(request) {
    if (new URL(request.url).pathname !== '/tail') return undefined
    tailRequests.push({ authorization: request.headers.get('authorization'), lastEventId: request.headers.get('last-event-id') })
    try {
      checkReadKey(ring, request, '127.0.0.1')
    } catch (error) {
      const { status, body } = httpError(error)
      return Response.json(body, { status, headers: refusalHeaders(error as never) })
    }
    return tail.intercept(request)
  },
})

const chromium = chromiumForFile(server)

/** A fresh context (empty sessionStorage) at `path`, every API request's Authorization header recorded. */
async function open(path: string) {
  const under = await chromium.openPage()
  const sent: { path: string; authorization: string | undefined }[] = []
  under.page.on('request', (request) => {
    const url = new URL(request.url())
    if (!url.pathname.startsWith('/explorer/') && url.pathname !== '/') sent.push({ path: url.pathname, authorization: request.headers().authorization })
  })
  await under.page.goto(`${server.url}${path}`)
  return { ...under, sent }
}

const dialogOpen = (page: Page) => page.waitForSelector('#key-dialog[open]')
const dialogSays = (page: Page, words: string) =>
  page.waitForFunction((text) => document.querySelector('#key-dialog[open] #key-why')?.textContent?.includes(text), words)

async function giveKey(page: Page, key: string): Promise<void> {
  await dialogOpen(page)
  await page.fill('#key-input', key)
  await page.click('#key-dialog button[value="ok"]')
}

const loaded = (page: Page, search: string) => page.waitForFunction((expected) => document.body.dataset.loaded === expected, search)
const storage = (page: Page) =>
  page.evaluate(() => ({ session: Object.entries(sessionStorage), local: Object.entries(localStorage), url: location.href, cookie: document.cookie }))

describe('the explorer with keys required', () => {
  test('asks once for a read key, in an accessible dialog; an ingest key is refused with its reason; a read key shows the logs', async () => {
    const { page, problems, sent } = await open('/?level=error')
    await dialogOpen(page)
    await dialogSays(page, 'needs an API key with read scope')
    // Labelled, a password field, focused, in a modal dialog.
    expect(await page.getAttribute('#key-input', 'type')).toBe('password')
    expect(await page.$eval('label[for="key-input"]', (label) => label.textContent)).toBe('Read key')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('key-input')
    expect(await page.$$eval('dialog[open]', (dialogs) => dialogs.length)).toBe(1)

    await giveKey(page, ingestKey.key)
    await dialogSays(page, 'cannot read logs')
    await giveKey(page, readKey.key)
    await loaded(page, '?level=error&from=1h')
    expect(await page.isVisible('#key-dialog')).toBe(false)
    const errors = generated.filter((log) => log.level === 'ERROR').length
    expect(await page.$$eval('#rows > .row', (rows) => rows.length)).toBe(Math.min(errors, 100))
    expect(await page.isVisible('#message')).toBe(false)

    // Every data request from the moment the read key was given carried it.
    const bearer = `Bearer ${readKey.key}`
    const given = sent.findIndex((request) => request.authorization === bearer)
    expect(sent.slice(given).every((request) => request.authorization === bearer)).toBe(true)
    expect(sent.slice(given).map((request) => request.path)).toEqual(expect.arrayContaining(['/query', '/histogram', '/facets']))
    expect(sent[0]?.authorization).toBeUndefined()

    const kept = await storage(page)
    expect(kept.session).toEqual([['logstream.read-key', readKey.key]])
    expect(kept.local).toEqual([])
    expect(kept.url).not.toContain(readKey.key)
    expect(kept.cookie).toBe('')
    // Reloading the tab keeps the key (sessionStorage): no dialog this time.
    await page.reload()
    await loaded(page, '?level=error&from=1h')
    expect(await page.isVisible('#key-dialog')).toBe(false)
    expect(problems.filter((problem) => !problem.includes('401') && !problem.includes('403'))).toEqual([])
  })

  test('cancelling the dialog says a key is needed; the next search asks again', async () => {
    const { page } = await open('/')
    await dialogOpen(page)
    await page.click('#key-dialog button[value="cancel"]')
    await loaded(page, '?from=1h')
    expect(await page.textContent('#message')).toContain('An API key with read scope is needed')
    await page.click('#search button[type="submit"]')
    await giveKey(page, readKey.key)
    await loaded(page, '?from=1h')
    expect(await page.isVisible('#message')).toBe(false)
  })

  test('the live tail streams with the key, reconnects with it and Last-Event-ID; a revoked key is asked for again', async () => {
    const { page } = await open('/')
    await giveKey(page, readKey.key)
    await loaded(page, '?from=1h')
    const before = tailRequests.length
    const readers = tail.readers
    await page.click('#live')
    await page.waitForFunction(() => document.querySelector('#live-status')?.textContent?.includes('waiting for new logs'))
    await eventually(() => (tail.readers > readers ? true : undefined), 5000, 'the page to connect to /tail')
    expect(tailRequests[before]).toEqual({ authorization: `Bearer ${readKey.key}`, lastEventId: null })

    const first = tailLog({ message: 'streamed with a key' })
    tail.send(first)
    await page.waitForFunction((id) => (document.querySelector('#rows > .row') as HTMLElement | null)?.dataset.id === id, first.id)

    // The stream ends (a restart): the page reconnects by itself, with the key and the newest id.
    tail.end()
    await eventually(() => (tail.readers > 0 && tailRequests.length > before + 1 ? true : undefined), 5000, 'the page to reconnect')
    expect(tailRequests.at(-1)).toEqual({ authorization: `Bearer ${readKey.key}`, lastEventId: first.id })
    await page.waitForFunction(() => document.querySelector('#live-status')?.textContent?.includes('waiting for new logs'))

    // Revoked while streaming: the next reconnect is refused, the key forgotten and asked for again.
    const revoked = readKey
    readKey = made('read')
    ring.replace([readKey.record, ingestKey.record])
    tail.end()
    await dialogSays(page, 'unknown or has been revoked')
    expect((await storage(page)).session).toEqual([])
    await giveKey(page, readKey.key)
    await eventually(
      () => (tail.readers > 0 && tailRequests.at(-1)?.authorization === `Bearer ${readKey.key}` ? true : undefined),
      5000,
      'the tail with the new key',
    )
    const second = tailLog({ message: 'after a new key' })
    tail.send(second)
    await page.waitForFunction((id) => (document.querySelector('#rows > .row') as HTMLElement | null)?.dataset.id === id, second.id)
    expect(await page.getAttribute('#live', 'aria-pressed')).toBe('true')
    expect(tailRequests.some((request) => request.authorization === `Bearer ${revoked.key}` && request.lastEventId === first.id)).toBe(true)

    // A search after revocation uses the new key, no dialog.
    await page.click('#live')
    await page.click('#search button[type="submit"]')
    await loaded(page, '?from=1h')
    expect(await page.isVisible('#key-dialog')).toBe(false)
  })

  test('a revoked key makes a search ask again', async () => {
    const { page } = await open('/')
    await giveKey(page, readKey.key)
    await loaded(page, '?from=1h')
    const old = readKey
    readKey = made('read')
    ring.replace([readKey.record, ingestKey.record])
    await page.fill('#q', 'level:error')
    await page.click('#search button[type="submit"]')
    await dialogSays(page, 'unknown or has been revoked')
    expect(JSON.stringify(await storage(page))).not.toContain(old.key)
    await giveKey(page, readKey.key)
    await loaded(page, '?level=error&from=1h')
    expect((await storage(page)).session).toEqual([['logstream.read-key', readKey.key]])
  })

  test('export downloads with the key: the NDJSON file holds every matching log', async () => {
    const { page, sent } = await open('/?level=error,fatal')
    await giveKey(page, readKey.key)
    await loaded(page, '?level=error%2Cfatal&from=1h')
    const href = (await page.getAttribute('#export-ndjson', 'href'))!
    expect(href).not.toContain(readKey.key)
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-ndjson')])
    expect(download.suggestedFilename()).toMatch(/\.ndjson$/)
    const lines = readFileSync((await download.path())!, 'utf8')
      .trim()
      .split('\n')
    expect(lines.length).toBe(generated.filter((log) => log.level === 'ERROR' || log.level === 'FATAL').length)
    expect(lines.every((line) => ['ERROR', 'FATAL'].includes(JSON.parse(line).level))).toBe(true)
    expect(sent.filter((request) => request.path === '/export').map((request) => request.authorization)).toEqual([`Bearer ${readKey.key}`])
  })
})
