import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'

/** The Swagger UI files the docs page loads, served from the swagger-ui-dist package. */
const ASSETS = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
} as const
const ASSET_PATH = '/openapi/assets'

/**
 * The OpenAPI description (/openapi/json) and its docs page (/openapi). The page is Swagger UI from the
 * swagger-ui-dist package, served by this process: by default the plugin loads its UI from a CDN, which an
 * air-gapped installation cannot reach.
 */
export function openapiDocs() {
  const docs = new Elysia({ name: 'openapi-docs' }).use(
    openapi({
      path: '/openapi',
      provider: 'swagger-ui',
      swagger: { cdn: `${ASSET_PATH}/swagger-ui-bundle.js`, theme: `${ASSET_PATH}/swagger-ui.css` },
      documentation: {
        info: {
          title: 'LogStream query API',
          version: '1.0.0',
          description:
            'Search, histogram, facets, context, export and live tail over stored logs. With LOGSTREAM_AUTH=required every route but ' +
            '/health (and this description) needs an API key of scope read or admin: Authorization: Bearer <key>, or HTTP Basic with the key as the password.',
        },
        // Lets the docs page send a key ("Authorize"); /health opts out with security: [].
        components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key of scope read (or admin)' } } },
        security: [{ apiKey: [] }],
      },
    }),
  )
  for (const [name, type] of Object.entries(ASSETS)) {
    const file = Bun.file(Bun.resolveSync(`swagger-ui-dist/${name}`, import.meta.dir))
    docs.get(`${ASSET_PATH}/${name}`, () => new Response(file, { headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' } }), {
      detail: { hide: true },
    })
  }
  return docs
}
