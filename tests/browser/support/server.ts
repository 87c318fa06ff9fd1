import type { Authenticator } from '../../../src/lib/auth/key-ring.ts'
import type { Sql } from '../../../src/lib/db.ts'
import { createQueryApp } from '../../../src/lib/query-app.ts'
import type { TailHub } from '../../../src/lib/tail/tail-hub.ts'

export interface ExplorerServer {
  url: string
  stop(): Promise<void>
}

export interface ServeOptions {
  /** The live tail GET /tail streams from (without one it answers 503). */
  tail?: TailHub
  /**
   * Answers some requests before the app does (a stand-in /tail). With it the app is served through
   * Bun.serve and app.handle; without it, by the app's own listen(), as src/query.ts serves it.
   */
  intercept?: (request: Request) => Response | undefined
  /** Checks keys (issue 15); without one, none is asked for. */
  authenticator?: Authenticator
}

/** The query API, which serves the explorer at /, on a free loopback port. */
export function serveExplorer(sql: Sql, options: ServeOptions = {}): ExplorerServer {
  const app = createQueryApp({ sql, tail: options.tail, authenticator: options.authenticator })
  const { intercept } = options
  if (intercept) {
    const server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      idleTimeout: 0,
      fetch: (request) => intercept(request) ?? app.handle(request),
    })
    return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) }
  }
  const server = app.listen({ hostname: '127.0.0.1', port: 0 }).server
  if (!server) throw new Error('the explorer did not start listening')
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) }
}
