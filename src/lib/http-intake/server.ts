import type { Registry } from 'prom-client'
import { authenticateRequest, type PeerSource, peerOf } from '../auth/credentials.ts'
import type { Authenticator, Caller } from '../auth/key-ring.ts'
import type { RateLimits } from '../auth/rate-limits.ts'
import { asLogStreamError, IngestOverloadedError, LogStreamError, NotFoundError, RequestTooLargeError, UnauthenticatedError } from '../errors.ts'
import type { Intake } from '../intake.ts'
import { requestIntake } from '../limited-intake.ts'
import type { Logger } from '../log.ts'
import { type IngestMeter, ingestMeter } from '../metered-intake.ts'
import type { IngestMetrics } from '../metrics.ts'
import { decodeContentEncoding } from '../protocols/encoding.ts'
import { scrapeResponse } from '../scrape.ts'
import type { TlsFiles } from '../tls-files.ts'
import { elasticsearchRoutes } from './elasticsearch.ts'
import { jsonLinesRoute } from './json-lines.ts'
import { lokiRoute } from './loki.ts'
import { otlpRoute } from './otlp.ts'
import type { Route } from './route.ts'

/**
 * The HTTP intake listener: OTLP/HTTP, Loki push, Elasticsearch bulk and JSON lines on one port. It owns
 * what every protocol shares: the API key (checked before any body is read, the Elasticsearch handshake
 * included, as Beats send their credentials there too), reading the body within the size limit and the
 * process-wide byte budget, undoing Content-Encoding, the key's rate limits, the time allowed for Kafka's
 * acknowledgement. Each protocol's adapter parses, calls the one accept path, and renders its own answer,
 * failures included; a 401 also carries the challenges, so Basic clients retry with their credentials.
 */

export interface HttpIntakeOptions {
  host: string
  port: number
  /** Largest body taken, as sent and after decompression alike. */
  maxBodyBytes: number
  /** Longest wait for Kafka's acknowledgement of one request. */
  sendTimeoutMs: number
  authenticator: Authenticator
  limits: RateLimits
  /** Certificate and key, read once at start; plaintext without. */
  tls?: TlsFiles
  /** The ingest service's metrics: served at GET /metrics (to a `read` key), and where each request is counted. */
  metrics?: { registry: Registry; ingest: IngestMetrics }
}

export interface HttpIntake {
  port: number
  /** Stops taking requests and waits for those in flight. */
  close(): Promise<void>
}

const ROUTES: Route[] = [otlpRoute, lokiRoute, ...elasticsearchRoutes, jsonLinesRoute]

/** The Content-Length a client declared, if any (a chunked body declares none). */
function declaredLength(request: Request): number | undefined {
  const header = request.headers.get('content-length')
  return header !== null && /^\d+$/.test(header.trim()) ? Number(header) : undefined
}

/** Reads the body chunk by chunk, so a body that turns out larger than the limit is not held whole. */
async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let total = 0
  const reader = request.body?.getReader()
  if (!reader) return new Uint8Array(0)
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > limit) {
      await reader.cancel().catch(() => {})
      throw new RequestTooLargeError(`the body is over the limit of ${limit} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks, total)
}

const mediaType = (request: Request) => (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()

/** What a 401 offers: Basic first, as shippers configured with a user and password wait for it before sending them. */
export const AUTH_CHALLENGES = ['Basic realm="logstream"', 'Bearer realm="logstream"'] as const

export function createHttpIntakeHandler(
  intake: Intake,
  log: Logger,
  options: Pick<HttpIntakeOptions, 'maxBodyBytes' | 'sendTimeoutMs' | 'authenticator' | 'limits' | 'metrics'>,
) {
  const { metrics } = options

  const serve = async (route: Route, request: Request, url: URL, contentType: string, caller: Caller, meter?: IngestMeter): Promise<Response> => {
    const controller = new AbortController()
    request.signal.addEventListener('abort', () => controller.abort(new Error('the client went away')), { once: true })
    const accept = { timeoutMs: options.sendTimeoutMs, signal: controller.signal }
    const base = { contentType, url, method: request.method, headers: request.headers, accept, maxBodyBytes: options.maxBodyBytes }
    if (!route.readsBody) return route.handle({ ...base, body: new Uint8Array(0), hold: () => {} }, intake)
    const declared = declaredLength(request)
    if (declared !== undefined && declared > options.maxBodyBytes) {
      throw new RequestTooLargeError(`the body is ${declared} bytes; the limit is ${options.maxBodyBytes}`)
    }
    // Room for the declared body (the largest allowed when none is declared), then for what was really read and decoded.
    const reservation = await intake.reserve(declared ?? options.maxBodyBytes)
    try {
      const raw = await readBody(request, options.maxBodyBytes)
      const body = await decodeContentEncoding(raw, request.headers.get('content-encoding'), options.maxBodyBytes)
      const holdOnly = (bytes: number) => {
        if (!reservation.resize(bytes)) throw new IngestOverloadedError('ingest is holding as many request bytes as it may; retry with backoff')
      }
      holdOnly(raw === body ? raw.byteLength : raw.byteLength + body.byteLength)
      const hold = (bytes: number) => holdOnly(reservation.bytes + bytes)
      return await route.handle({ ...base, body, hold }, requestIntake(intake, options.limits, caller, body.byteLength, meter))
    } finally {
      reservation.release()
    }
  }

  return async (request: Request, server?: PeerSource): Promise<Response> => {
    const url = new URL(request.url)
    // It describes the service rather than taking logs, so it asks for a read key, not an ingest key (scrape.ts).
    if (metrics && url.pathname === '/metrics' && request.method === 'GET')
      return scrapeResponse(request, metrics.registry, options.authenticator, peerOf(request, server), AUTH_CHALLENGES)
    const route = ROUTES.find((candidate) => candidate.matches(request.method, url.pathname))
    if (!route) return notFound(request.method, url.pathname)
    // Made on arrival, so the ack time runs from here.
    const meter = metrics ? ingestMeter(metrics.ingest, route.protocol) : undefined
    const contentType = mediaType(request)
    const peer = peerOf(request, server)
    try {
      const caller = authenticateRequest(options.authenticator, request, 'ingest', peer)
      const response = await serve(route, request, url, contentType, caller, meter)
      meter?.answered(response.ok)
      return response
    } catch (error) {
      if (!(error instanceof LogStreamError)) log.error('ingest.http.failed', { error, path: url.pathname })
      else if (error.retryable) log.warn('ingest.refused', { code: error.code, detail: error.message, path: url.pathname })
      else if (error.httpStatus === 401 || error.httpStatus === 403)
        log.warn('ingest.unauthorized', { code: error.code, detail: error.message, path: url.pathname, peer })
      const response = route.fail(asLogStreamError(error), { contentType, url })
      if (error instanceof UnauthenticatedError) for (const challenge of AUTH_CHALLENGES) response.headers.append('www-authenticate', challenge)
      return response
    }
  }
}

function notFound(method: string, path: string): Response {
  const error = new NotFoundError(`no intake endpoint for ${method} ${path}; see the README's intake section`)
  return Response.json({ error: error.code, message: error.message }, { status: 404 })
}

export function startHttpIntake(intake: Intake, log: Logger, options: HttpIntakeOptions): HttpIntake {
  const handler = createHttpIntakeHandler(intake, log, options)
  const server = Bun.serve({
    hostname: options.host,
    port: options.port,
    ...(options.tls ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
    // Above our own limit, so a body declared too large gets each protocol's own 413 from readBody (which
    // refuses it unread) rather than Bun's bare one; readBody also stops a chunked body at the limit.
    maxRequestBodySize: 4 * options.maxBodyBytes,
    // Bun closes a connection silent for idleTimeout (10 s by default): a request waiting for Kafka up to
    // sendTimeoutMs must get its 503, not a closed connection.
    idleTimeout: Math.min(255, Math.ceil(options.sendTimeoutMs / 1000) + 10),
    fetch: handler,
  })
  log.info('ingest.http.listening', { address: `${options.host}:${server.port}`, tls: options.tls !== undefined, maxBodyBytes: options.maxBodyBytes })
  return {
    port: server.port ?? options.port,
    async close() {
      await server.stop(false)
    },
  }
}
