import { afterAll, beforeAll } from 'bun:test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from 'playwright-core'

/**
 * Real headless Chromium for the explorer's tests: Debian's `chromium` package, driven by playwright-core
 * (never a browser download). CHROMIUM_PATH overrides the path. When it is missing the tests fail with the
 * command that installs it (scripts/install-chromium.sh, run by .ci/run, does it as root).
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export const MISSING_CHROMIUM =
  `The explorer's browser tests need Chromium at ${CHROMIUM_PATH}, and it is not there. ` +
  'Install it: `sudo apt-get install -y chromium` (Debian; what scripts/install-chromium.sh runs as root, and .ci/run calls), ' +
  'or point CHROMIUM_PATH at a Chromium or Chrome binary. playwright-core does not download browsers here.'

const ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export interface RunningBrowser {
  browser: Browser
  /** The Chromium process this launch started (its main process; it ends its own children). */
  pid: number
  close(): Promise<void>
}

const LAUNCH_TIMEOUT_MS = 30_000

/**
 * Starts Chromium ourselves (a fresh `--user-data-dir`, DevTools on a free loopback port) and connects
 * playwright to it over CDP. Owning the process means it is stopped by its own PID, whatever happens to the
 * connection, and playwright's launch() (which talks to the browser over extra stdio pipes, where launches
 * have been reported to hang under Bun) is not needed. HOME points into the profile too, so nothing is
 * written to the user's home (Chromium's NSS database in ~/.pki).
 */
export async function launchChromium(): Promise<RunningBrowser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(MISSING_CHROMIUM)
  const profile = mkdtempSync(join(tmpdir(), 'logstream-chromium-'))
  const child = Bun.spawn(
    [CHROMIUM_PATH, ...ARGS, `--user-data-dir=${profile}`, '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', 'about:blank'],
    { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', env: { ...process.env, HOME: profile } },
  )
  const stop = async () => {
    child.kill('SIGTERM')
    const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(5000).then(() => false)])
    if (!exited) {
      child.kill('SIGKILL')
      await child.exited
    }
    rmSync(profile, { recursive: true, force: true })
  }
  try {
    const endpoint = await devtoolsEndpoint(child.stderr as ReadableStream<Uint8Array>)
    const browser = await chromium.connectOverCDP(endpoint, { timeout: LAUNCH_TIMEOUT_MS })
    return {
      browser,
      pid: child.pid,
      async close() {
        // Browser.close shuts Chromium down the way closing its window would (its helper processes too);
        // playwright's close() of a CDP connection only disconnects. The PID is stopped after it regardless.
        const closing = (async () => {
          const session = await browser.newBrowserCDPSession()
          await session.send('Browser.close').catch(() => {})
        })().catch(() => {})
        await Promise.race([closing.then(() => child.exited), Bun.sleep(5000)])
        await stop()
      },
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/** Reads Chromium's stderr until it says where DevTools listens, then keeps draining it (a full pipe would stall the browser). */
async function devtoolsEndpoint(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stderr.getReader()
  const decoder = new TextDecoder()
  let seen = ''
  const deadline = Date.now() + LAUNCH_TIMEOUT_MS
  while (Date.now() < deadline) {
    const chunk = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => undefined)])
    if (!chunk || chunk.done) break
    seen = (seen + decoder.decode(chunk.value, { stream: true })).slice(-16_384)
    const found = /DevTools listening on (ws:\/\/\S+)/.exec(seen)
    if (found) {
      void (async () => {
        while (!(await reader.read().catch(() => ({ done: true }))).done) {}
      })()
      return found[1]!
    }
  }
  throw new Error(`Chromium (${CHROMIUM_PATH}) did not start within ${LAUNCH_TIMEOUT_MS / 1000} s; it said: ${seen.trim().slice(-2000) || 'nothing'}`)
}

export interface PageUnderTest {
  context: BrowserContext
  page: Page
  /** Console errors, uncaught exceptions and failed requests seen so far. */
  problems: string[]
}

/** A new context (no shared cookies or storage) and page, recording every console error and page error. */
export async function openPage(browser: Browser, options: BrowserContextOptions = {}): Promise<PageUnderTest> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options })
  // Every wait is for a condition; a condition that does not come within 10 s is a failure, said quickly.
  context.setDefaultTimeout(10_000)
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`)
  })
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? ''
    // A fetch the page aborted on purpose (a newer search replaced it) is not a problem.
    if (!failure.includes('ERR_ABORTED')) problems.push(`request failed: ${request.url()} ${failure}`)
  })
  return { context, page, problems }
}

export interface FileBrowser {
  /** A fresh context and page, closed with the browser when the file's tests are done. */
  openPage(options?: BrowserContextOptions): Promise<PageUnderTest>
}

/**
 * Chromium for one test file: launched before its tests; after them every page it opened is closed, then
 * the browser, then `server` (which the pages talked to).
 */
export function chromiumForFile(server: { stop(): unknown }): FileBrowser {
  let running: RunningBrowser | undefined
  const opened: PageUnderTest[] = []
  beforeAll(async () => {
    running = await launchChromium()
  })
  afterAll(async () => {
    for (const { context } of opened) await context.close().catch(() => {})
    await running?.close()
    await server.stop()
  })
  return {
    async openPage(options = {}) {
      const under = await openPage(running!.browser, options)
      opened.push(under)
      return under
    },
  }
}
