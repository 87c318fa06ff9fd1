import type { Registry } from 'prom-client'
import { type PeerSource, peerOf } from '../auth/credentials.ts'
import type { Authenticator } from '../auth/key-ring.ts'
import type { Config } from '../config.ts'
import { connect } from '../db.ts'
import { httpError, NotFoundError } from '../errors.ts'
import { checkHealth, type HealthCheck, healthResponse } from '../health.ts'
import { waitForKafka } from '../kafka.ts'
import type { Logger } from '../log.ts'
import { scrapeResponse } from '../scrape.ts'
import type { TlsFiles } from '../tls-files.ts'

/**
 * The consumer's HTTP listener (CONSUME_HTTP_HOST:CONSUME_HTTP_PORT): GET /health, open, for orchestrators
 * (compose's healthcheck), and GET /metrics, which needs a read key when keys are required, as on the other
 * services' ports. Nothing else: the consumer takes no requests.
 */

export interface ConsumerHttpHandlerOptions {
  registry: Registry
  authenticator: Authenticator
  /** Named dependency checks; /health is 503 naming those that failed. */
  checks: Record<string, HealthCheck>
  healthTimeoutMs: number
}

/** The challenges of a 401 on /metrics: Prometheus sends its credentials as Bearer or Basic alike. */
export const METRICS_CHALLENGES = ['Bearer realm="logstream"', 'Basic realm="logstream"'] as const

export function createConsumerHttpHandler(options: ConsumerHttpHandlerOptions) {
  return async (request: Request, server?: PeerSource): Promise<Response> => {
    const { pathname } = new URL(request.url)
    if (request.method === 'GET' && pathname === '/health') return healthResponse(await checkHealth(options.checks, options.healthTimeoutMs))
    if (request.method === 'GET' && pathname === '/metrics')
      return scrapeResponse(request, options.registry, options.authenticator, peerOf(request, server), METRICS_CHALLENGES)
    const { status, body } = httpError(new NotFoundError(`the consumer serves only GET /health and GET /metrics, not ${request.method} ${pathname}`))
    return Response.json(body, { status })
  }
}

export interface ConsumerHttp {
  /** The port bound (useful with CONSUME_HTTP_PORT=0). */
  port: number
  /** Stops listening and waits for requests in flight. */
  close(): Promise<void>
}

/** Resolves once PostgreSQL at `url` answers `select 1` on a new connection, closed after. */
async function answers(url: string, timeoutMs: number): Promise<void> {
  const sql = connect(url, { max: 1, connectTimeout: Math.ceil(timeoutMs / 1000) })
  try {
    await sql`select 1`
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {})
  }
}

/** Below compose's healthcheck timeout (5 s), so the check gets our 503 and its reason rather than a timeout. */
export const HEALTH_TIMEOUT_MS = 3000

export function startConsumerHttp(
  config: Pick<Config, 'consumeHttp' | 'kafka' | 'databaseUrl'>,
  options: { registry: Registry; authenticator: Authenticator; log: Logger; tls?: TlsFiles; healthTimeoutMs?: number },
): ConsumerHttp {
  const healthTimeoutMs = options.healthTimeoutMs ?? HEALTH_TIMEOUT_MS
  // Each check opens a connection of its own, as waitForKafka does for Kafka: not the write pool, where `select 1`
  // would queue behind the batches and a busy consumer would look dead; and not a kept connection, which
  // postgres.js reconnects with a backoff of up to 20 s after repeated failures, so /health would stay 503 that
  // long after PostgreSQL is back (seen: 24 s).
  const checks: Record<string, HealthCheck> = {
    kafka: () => waitForKafka(config.kafka, healthTimeoutMs),
    database: () => answers(config.databaseUrl, healthTimeoutMs),
  }
  const handler = createConsumerHttpHandler({ registry: options.registry, authenticator: options.authenticator, checks, healthTimeoutMs })
  const { host, port } = config.consumeHttp
  const server = Bun.serve({
    hostname: host,
    port,
    ...(options.tls ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
    fetch: handler,
  })
  options.log.info('consume.http.listening', { address: `${host}:${server.port}`, tls: options.tls !== undefined })
  return {
    port: server.port ?? port,
    async close() {
      await server.stop(false)
    },
  }
}
