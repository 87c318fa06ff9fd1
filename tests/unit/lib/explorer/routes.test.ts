import { describe, expect, test } from 'bun:test'
import { buildExplorer, pageSize } from '../../../../src/lib/explorer/build.ts'
import { CONTENT_SECURITY_POLICY, explorerRoutes } from '../../../../src/lib/explorer/routes.ts'
import { createQueryApp } from '../../../../src/lib/query-app.ts'
import { fakeSql } from '../../../support/fake-sql.ts'

/** The explorer's page as the query service serves it (in process, no database: the page asks for nothing at build time). */
const assets = buildExplorer()
const app = createQueryApp({ sql: fakeSql(() => Promise.reject(new Error('the database must not be asked'))).sql }).use(explorerRoutes({ assets }))
const get = (path: string, headers: Record<string, string> = {}) => app.handle(new Request(`http://localhost${path}`, { headers }))

describe('the explorer page', () => {
  test('GET / (with any query string) is the page, under a policy that allows nothing but this origin', async () => {
    const response = await get('/?service=web&level=error&q=timeout&from=1h')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY)
    expect(CONTENT_SECURITY_POLICY).toContain("connect-src 'self'")
    expect(response.headers.get('cache-control')).toBe('no-cache')
    const html = await response.text()
    const { script, style } = await assets
    expect(html).toContain(`<script type="module" src="${script.path}">`)
    expect(html).toContain(`<link rel="stylesheet" href="${style.path}">`)
  })

  test('the script and the style sheet are served at content-hashed paths, cacheable for ever', async () => {
    const { script, style } = await assets
    expect(script.path).toMatch(/^\/explorer\/app\.[0-9a-z]+\.js$/)
    for (const item of [script, style]) {
      const response = await get(item.path)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe(item.contentType)
      expect(response.headers.get('cache-control')).toContain('immutable')
      expect(new Uint8Array(await response.arrayBuffer())).toEqual(item.body)
    }
  })

  test('gzipped for clients that accept it; 304 for a copy the client already has', async () => {
    const { script } = await assets
    const zipped = await get(script.path, { 'accept-encoding': 'gzip, br' })
    expect(zipped.headers.get('content-encoding')).toBe('gzip')
    expect(Bun.gunzipSync(new Uint8Array(await zipped.arrayBuffer()))).toEqual(script.body)
    const again = await get(script.path, { 'if-none-match': script.etag })
    expect(again.status).toBe(304)
  })

  test("an unknown asset is the API's 404", async () => {
    const response = await get('/explorer/app.old.js')
    expect(response.status).toBe(404)
    expect(((await response.json()) as { error: string }).error).toBe('NOT_FOUND')
  })

  test('nothing in the page points off this origin (no CDN): the only URL is the SVG namespace', async () => {
    const { html, script, style } = await assets
    for (const item of [html, script, style]) {
      const text = new TextDecoder().decode(item.body)
      const urls = text.match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*/gi) ?? []
      expect(urls.filter((url) => url !== 'http://www.w3.org/2000/svg')).toEqual([])
    }
  })

  test('small: HTML + JS + CSS under 64 kB as served, under 24 kB gzipped', async () => {
    const size = pageSize(await assets)
    expect(size.bytes).toBeLessThan(64_000)
    expect(size.gzipped).toBeLessThan(24_000)
  })
})
