/**
 * The log explorer, served by the query service: GET / (the page) and its two assets under /explorer/.
 * Mount it on the query app: `createQueryApp({ sql, log }).use(explorerRoutes())`.
 *
 * The page is built in memory when the first app mounting it is created, at startup (build.ts, ~20 ms),
 * once per process; a request that arrives before the build has finished waits for it. Assets are served gzipped to clients that accept it, with a Content-Security-Policy that
 * allows nothing but this origin: the page cannot load anything from a CDN, and injected markup could not
 * run scripts.
 */
import { Elysia } from 'elysia'
import { NotFoundError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { buildExplorer, type ExplorerAsset, type ExplorerAssets } from './build.ts'

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

export interface ExplorerOptions {
  log?: Logger
  /** Prebuilt assets (tests); built at startup otherwise. */
  assets?: Promise<ExplorerAssets>
}

function respond(asset: ExplorerAsset, request: Request): Response {
  const headers: Record<string, string> = {
    'content-type': asset.contentType,
    etag: asset.etag,
    vary: 'accept-encoding',
    'x-content-type-options': 'nosniff',
    'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
  }
  if (asset.path === '/') {
    headers['content-security-policy'] = CONTENT_SECURITY_POLICY
    headers['referrer-policy'] = 'same-origin'
  }
  if (request.headers.get('if-none-match') === asset.etag) return new Response(null, { status: 304, headers })
  const gzip = /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '')
  if (gzip) headers['content-encoding'] = 'gzip'
  return new Response(gzip ? asset.gzip : asset.body, { headers })
}

/** One build per process, however many apps mount the page (the test suites create hundreds of query apps). */
let built: Promise<ExplorerAssets> | undefined

function sharedBuild(): Promise<ExplorerAssets> {
  if (!built) built = buildExplorer()
  return built
}

export function explorerRoutes(options: ExplorerOptions = {}) {
  const assets = options.assets ?? sharedBuild()
  // Reported at startup, not per request; the requests then answer a 500 through the app's onError.
  assets.catch((error) => options.log?.error('explorer.build_failed', { error }))
  const hide = { detail: { hide: true } }
  return new Elysia({ name: 'explorer' })
    .get('/', async ({ request }) => respond((await assets).html, request), hide)
    .get(
      '/explorer/:file',
      async ({ params, request }) => {
        const built = await assets
        const found = [built.script, built.style].find((item) => item.path === `/explorer/${params.file}`)
        // An old hashed path after a restart with a new build: the page reloads and asks for the new one.
        if (!found) throw new NotFoundError('no such explorer asset; reload the page')
        return respond(found, request)
      },
      hide,
    )
}
