/**
 * `npm run screenshots`: regenerates docs/explorer-light.png and docs/explorer-dark.png, the log explorer
 * over generated data, through a real search in real headless Chromium (Debian's chromium, driven by
 * playwright-core). Needs PostgreSQL (DATABASE_URL, as the services read it); uses a database of its own,
 * `logstream_explorer_screenshots`, dropped at the end. Also prints the page's size as served.
 *
 *   npm run screenshots                 both PNGs into docs/
 *   npm run screenshots -- --out DIR    elsewhere
 */
import { resolve } from 'node:path'
import { loadConfig } from '../src/lib/config.ts'
import { applySchema, connect, ensureDatabase, maintenanceUrl } from '../src/lib/db.ts'
import { buildExplorer, pageSize } from '../src/lib/explorer/build.ts'
import { maintainPartitions } from '../src/lib/retention.ts'
import { launchChromium, openPage } from '../tests/browser/support/browser.ts'
import { generateLogs, insertLogs } from '../tests/browser/support/logs.ts'
import { serveExplorer } from '../tests/browser/support/server.ts'

const outIndex = process.argv.indexOf('--out')
const outDir = resolve(import.meta.dir, '..', outIndex > 0 ? process.argv[outIndex + 1]! : 'docs')
const NAME = 'logstream_explorer_screenshots'
/** The search shown: words highlighted in the messages, two levels in the histogram. */
const SEARCH = '/?q=timeout+or+declined&from=1h'

const base = new URL(loadConfig().databaseUrl)
base.pathname = `/${NAME}`
const admin = connect(maintenanceUrl(base.toString()), { max: 1 })
await admin`drop database if exists ${admin(NAME)} with (force)`
await ensureDatabase(base.toString())
const sql = connect(base.toString(), { max: 4 })
const chromium = await launchChromium().catch(async (error) => {
  await sql.end()
  throw error
})
const server = serveExplorer(sql)
try {
  await applySchema(sql)
  await maintainPartitions(sql, { retentionDays: 2, aheadDays: 1 })
  await insertLogs(sql, generateLogs(4000, { spanMicros: 3_500e6, seed: 11 }))
  for (const scheme of ['light', 'dark'] as const) {
    const { context, page, problems } = await openPage(chromium.browser, { colorScheme: scheme, viewport: { width: 1280, height: 760 } })
    await page.goto(`${server.url}${SEARCH}`)
    await page.waitForSelector('#results[aria-busy="false"] #rows .row')
    await page.waitForSelector('#histogram svg .bar')
    await page.locator('#rows .row .summary').nth(1).click()
    await page.waitForSelector('#rows .row.open .detail')
    const file = `${outDir}/explorer-${scheme}.png`
    await page.screenshot({ path: file })
    console.log(`wrote ${file}`)
    if (problems.length > 0) throw new Error(`the page reported problems: ${problems.join('; ')}`)
    await context.close()
  }
  const size = pageSize(await buildExplorer())
  console.log(`page size as served: ${size.bytes} bytes (HTML + JS + CSS), ${size.gzipped} bytes gzipped`)
} finally {
  await chromium.close()
  await server.stop()
  await sql.end()
  await admin`drop database if exists ${admin(NAME)} with (force)`
  await admin.end()
}
