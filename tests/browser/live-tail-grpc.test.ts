import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createLogger } from '../../src/lib/log.ts'
import { startLiveTail } from '../../src/lib/tail/live-tail.ts'
import { ingest, ingestClient } from '../support/ingest-client.ts'
import { startIntakeStack } from '../support/intake-stack.ts'
import { launchChromium, openPage, type PageUnderTest, type RunningBrowser } from './support/browser.ts'
import { serveExplorer } from './support/server.ts'

/**
 * The live tail end to end: a log sent through gRPC to the real ingest service goes through Kafka and the
 * consumer into PostgreSQL (tests/support/intake-stack.ts, all in this process), and must appear at the top
 * of the explorer's list, with the live tail on, within a few seconds. The query app serves GET /tail from a
 * live tail of its own (src/lib/tail/live-tail.ts), as src/query.ts runs it.
 */
const stack = await startIntakeStack()
const log = createLogger({ service: 'explorer-test' }, { level: 'error' })
const tail = startLiveTail({ sql: stack.db.sql, databaseUrl: stack.db.url, settings: stack.config.tail, log })
const server = serveExplorer(stack.db.sql, { tail: tail.hub })
let chromium: RunningBrowser | undefined
let under: PageUnderTest | undefined
beforeAll(async () => {
  await tail.ready
  chromium = await launchChromium()
})
afterAll(async () => {
  await under?.context.close().catch(() => {})
  await chromium?.close()
  // The tail's streams never end by themselves: end them first, or stopping the server would wait on them.
  await tail.stop()
  await server.stop()
})

test('a log sent through gRPC appears in the live tail within a few seconds', async () => {
  const run = Math.random().toString(36).slice(2, 8)
  const service = `tail-${run}`
  under = await openPage(chromium!.browser)
  const { page, problems } = under
  await page.goto(`${server.url}/?service=${service}`)
  await page.waitForFunction((search) => document.body.dataset.loaded === search, `?service=${service}&from=1h`)
  expect(await page.isVisible('#empty')).toBe(true)
  await page.click('#live')
  // Connected, or refused with the page's reason (then that reason is the failure).
  await page.waitForFunction(
    () => document.querySelector('#live-status')?.textContent?.includes('waiting for new logs') || !document.querySelector('#message')?.hasAttribute('hidden'),
  )
  if (await page.isVisible('#message')) throw new Error(`the live tail did not connect: ${await page.textContent('#message')}`)

  const message = `hello through gRPC ${run}`
  const client = ingestClient(stack.ingest.port)
  try {
    const sentAt = performance.now()
    const outcome = await ingest(client, [{ service, level: 'WARN', message, host: 'grpc-host', tags: ['live:test'] }])
    expect(outcome.error).toBeUndefined()
    expect(outcome.response?.accepted).toBe(1)
    await page.waitForFunction((text) => document.querySelector('#rows > .row .msg')?.textContent === text, message, { timeout: 5000 })
    const seconds = (performance.now() - sentAt) / 1000
    console.info(`live tail: a log sent through gRPC was on the page ${seconds.toFixed(2)} s later`)
    expect(seconds).toBeLessThan(5)
  } finally {
    client.close()
  }
  const row = page.locator('#rows > .row').first()
  expect(await row.locator('.service').textContent()).toBe(service)
  expect(await row.locator('.level').textContent()).toBe('WARN')
  expect(await page.isVisible('#empty')).toBe(false)
  expect(problems).toEqual([])
})
