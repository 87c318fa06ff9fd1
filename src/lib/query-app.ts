import { Elysia, t } from 'elysia'
import type { Registry } from 'prom-client'
import { keyFromAuthorization, peerOf } from './auth/credentials.ts'
import { type Authenticator, openAuthenticator } from './auth/key-ring.ts'
import type { Sql } from './db.ts'
import { asLogStreamError, httpError, InternalError, NotFoundError, QueryInvalidError, RequestInvalidError } from './errors.ts'
import { explorerRoutes } from './explorer/routes.ts'
import { checkHealth } from './health.ts'
import { Levels } from './levels.ts'
import type { Logger } from './log.ts'
import { isSearchParameter, parseSearch, parseTraceId, SearchLimits, searchInput, searchLogs, traceLogs } from './log-search.ts'
import { metricsResponse, QueryMetrics } from './metrics.ts'
import { openapiDocs } from './openapi-docs.ts'
import { contextExportRoutes } from './query/context-export-routes.ts'
import { checkReadKey, endWhenRevoked, isAuthRefusal, refusalHeaders, stillReads } from './query/require-key.ts'
import { facetRoutes, histogramRoutes } from './query/routes.ts'
import type { TailHub } from './tail/tail-hub.ts'
import { tailRoutes } from './tail/tail-routes.ts'
import { TIME_FORMAT_HINT } from './time-range.ts'

export interface QueryAppOptions {
  sql: Sql
  log?: Logger
  /** How long /health waits for PostgreSQL before calling it down. */
  healthTimeoutMs?: number
  /** The process's live tail, which GET /tail streams from; without one /tail answers 503. */
  tail?: TailHub
  /**
   * Checks the key of every request but /health, the explorer's page and assets and the OpenAPI docs, for
   * scope `read` (query/require-key.ts). Default: openAuthenticator, everyone allowed (LOGSTREAM_AUTH=off).
   */
  authenticator?: Authenticator
  /** How often an open /tail stream's key is checked again (a revoked key ends its stream); config.auth.refreshMs. */
  recheckMs?: number
  /** Where GET /metrics reads from and request metrics go (metrics.ts createRegistry); without one there is no /metrics. */
  registry?: Registry
}

/** What each parameter accepts, used both in the OpenAPI description and in 400 bodies. */
const accepted = {
  service: 'exact service name',
  level: `one or more (comma-separated) of ${Levels.join(', ')}; lower case and aliases (warning, err, critical…) are accepted`,
  from: `inclusive lower bound: ${TIME_FORMAT_HINT}`,
  to: `inclusive upper bound: ${TIME_FORMAT_HINT}`,
  host: 'exact host name',
  trace_id: '32 hex digits (W3C trace-context) or a UUID',
  tags: 'logs carrying all of these tags; repeat the parameter or separate with commas',
  q: 'full-text search in message: whole words, "quoted phrases", OR, -excluded (websearch syntax)',
  limit: `a whole number from 1 to ${SearchLimits.limitMax} (default ${SearchLimits.limitDefault})`,
  page: `a whole number from 1 to ${SearchLimits.pageMax} (default 1); prefer cursor for deep pagination`,
  cursor: 'next_cursor from a previous response, unchanged; stable while new logs arrive',
  'attr.<path>':
    'metadata field equal to the value, e.g. attr.http.status=500 (string, or number/true/false/null as sent), or present: attr.<path>=*. ' +
    'The dotted path is nested objects or one key with dots (user.id); either matches. Repeatable; at most ' +
    `${SearchLimits.attrFilters} attribute filters, values up to ${SearchLimits.attrValueBytes} bytes`,
  '-attr.<path>': 'metadata field not equal to the value, or absent; -attr.<path>=*: absent',
} as const
type Parameter = keyof typeof accepted

const SearchQuery = t.Object({
  service: t.Optional(t.String({ description: accepted.service })),
  level: t.Optional(t.String({ description: accepted.level })),
  from: t.Optional(t.String({ description: accepted.from })),
  to: t.Optional(t.String({ description: accepted.to })),
  host: t.Optional(t.String({ description: accepted.host })),
  trace_id: t.Optional(t.String({ description: accepted.trace_id })),
  tags: t.Optional(t.Array(t.String(), { description: accepted.tags })),
  q: t.Optional(t.String({ description: accepted.q })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: SearchLimits.limitMax, description: accepted.limit })),
  page: t.Optional(t.Integer({ minimum: 1, maximum: SearchLimits.pageMax, description: accepted.page })),
  cursor: t.Optional(t.String({ description: accepted.cursor })),
  // Documentation only: Elysia strips keys its schema does not name, so /query reads attribute filters
  // (and refuses unknown parameters) from the raw URL.
  'attr.<path>': t.Optional(t.String({ description: accepted['attr.<path>'] })),
  '-attr.<path>': t.Optional(t.String({ description: accepted['-attr.<path>'] })),
})

const LogSchema = t.Object({
  id: t.String({ description: 'kafka partition-offset: unique per log' }),
  timestamp: t.String({ description: 'RFC 3339, UTC, microseconds' }),
  service: t.String(),
  level: t.String({ enum: [...Levels] }),
  message: t.String(),
  metadata: t.Record(t.String(), t.Unknown()),
  trace_id: t.Nullable(t.String()),
  span_id: t.Nullable(t.String()),
  host: t.Nullable(t.String()),
  tags: t.Array(t.String()),
  ingested_at: t.String(),
})

const ErrorSchema = t.Object({
  error: t.String({
    description:
      'stable error code: QUERY_INVALID, REQUEST_INVALID, NOT_FOUND, DATABASE_UNAVAILABLE, QUERY_TIMEOUT, INTERNAL, AUTH_REQUIRED (401), AUTH_FORBIDDEN (403) or RATE_LIMITED (429)',
  }),
  message: t.String(),
  parameter: t.Optional(t.String({ description: 'the offending query parameter, for QUERY_INVALID' })),
})

const SearchResponse = t.Object({
  logs: t.Array(LogSchema),
  pagination: t.Object({
    limit: t.Integer(),
    page: t.Nullable(t.Integer({ description: 'null when paginating by cursor' })),
    has_more: t.Boolean(),
    next_page: t.Nullable(t.Integer({ description: 'null when paginating by cursor, or when the page ended early at its byte budget (use next_cursor)' })),
    next_cursor: t.Nullable(t.String()),
  }),
  took_ms: t.Number(),
})

const TraceResponse = t.Object({
  trace_id: t.String(),
  logs: t.Array(LogSchema),
  pagination: t.Object({ limit: t.Integer(), truncated: t.Boolean({ description: `true when the trace has more than ${SearchLimits.traceMax} logs` }) }),
  took_ms: t.Number(),
})

const elapsed = (began: number) => Math.round((performance.now() - began) * 100) / 100

/**
 * Elysia's validation errors lose the parameter name once a query string has been coerced to a number
 * (limit=5000 reports path ""), so the raw query is re-read with parseSearch, which names the parameter
 * and its accepted range itself.
 */
function validationFailure(request: Request, error: { all?: { path?: string }[] }): QueryInvalidError {
  const raw = searchInput(new URL(request.url).searchParams)
  try {
    // Other routes' own parameters are theirs to name: only the search parameters are checked here.
    parseSearch(raw, { extra: Object.keys(raw).filter((name) => !isSearchParameter(name)) })
  } catch (parsed) {
    if (parsed instanceof QueryInvalidError) return parsed
  }
  const name = (error.all?.[0]?.path ?? '').split('/').filter(Boolean)[0] ?? 'query'
  const hint = name in accepted ? `must be ${accepted[name as Parameter]}` : 'is invalid; see /openapi'
  return new QueryInvalidError(name, `${name}: ${hint}`)
}

/**
 * The HTTP query API. Bad input is a 400 naming the parameter; a database that cannot be reached or a
 * query cancelled by QUERY_TIMEOUT_MS is a 503; nothing a client sends can produce a 500.
 * Failures are answered the way Hono's onError answers an HTTPException: Elysia's own failures become
 * our error classes, the data layer already throws typed database errors (log-search.ts), and the
 * status and body then follow from the error alone (httpError); anything untyped is an INTERNAL 500.
 */
export function createQueryApp({ sql, log, healthTimeoutMs = 2000, tail, authenticator = openAuthenticator, recheckMs = 2000, registry }: QueryAppOptions) {
  const metrics = registry ? new QueryMetrics(registry) : undefined
  // When each request arrived, for logstream_query_seconds; weak, so a request never answered leaks nothing.
  const arrived = new WeakMap<Request, number>()
  return new Elysia()
    .onRequest(({ request, server }) => {
      if (metrics) arrived.set(request, performance.now())
      // Before routing: a request without a read key learns nothing, not even which paths exist.
      checkReadKey(authenticator, request, peerOf(request, server))
    })
    .onAfterHandle(({ request, response, server }) => {
      // A stream outlives the check made when it opened: /tail's key is checked again while it streams.
      if (authenticator === openAuthenticator || !(response instanceof Response) || !response.body) return
      if (!response.headers.get('content-type')?.startsWith('text/event-stream')) return
      const key = keyFromAuthorization(request.headers.get('authorization'))
      const peer = peerOf(request, server)
      const body = endWhenRevoked(response.body, () => stillReads(authenticator, key, peer), recheckMs)
      return new Response(body, { status: response.status, headers: response.headers })
    })
    .onAfterResponse((context) => {
      if (!metrics) return
      const began = arrived.get(context.request)
      if (began === undefined) return
      // `route` is Elysia's pattern (/query/:trace_id), absent when refused before routing or matching no route;
      // a handler's own Response carries its status, which `set` does not see.
      const { route, responseValue } = context as typeof context & { route?: string; responseValue?: unknown }
      const status = responseValue instanceof Response ? responseValue.status : Number(context.set.status ?? 200)
      metrics.answered(route ?? '', status, (performance.now() - began) / 1000)
    })
    .use(openapiDocs())
    .onError(({ code, error, set, request }) => {
      const failure =
        code === 'VALIDATION'
          ? validationFailure(request, error)
          : code === 'NOT_FOUND'
            ? new NotFoundError('no such route; see /openapi')
            : code === 'PARSE'
              ? new RequestInvalidError('the request could not be parsed')
              : asLogStreamError(error)
      // A refused key is an answer, not a failure: debug only, with the code and never the key (or its header).
      if (isAuthRefusal(failure)) log?.debug('query.refused', { code: failure.code, path: new URL(request.url).pathname })
      // A retryable failure is the database's, not ours: a warning. Any other 5xx is a bug: an error, with the original.
      else if (failure.retryable) log?.warn('query.unavailable', { error: failure })
      else if (failure.httpStatus >= 500) log?.error('query.failed', { error: failure instanceof InternalError ? failure.cause : failure })
      const { status, body } = httpError(failure)
      Object.assign(set.headers, refusalHeaders(failure))
      set.status = status
      return body
    })
    .get(
      '/health',
      async ({ set }) => {
        const { status, body } = await checkHealth({ database: () => sql`select 1` }, healthTimeoutMs)
        set.status = status
        return body
      },
      {
        detail: {
          summary: 'Liveness and database reachability',
          description: '200 when PostgreSQL answers, 503 with the failing check otherwise. Needs no API key.',
          security: [],
        },
      },
    )
    .get(
      '/query',
      async ({ request }) => {
        const began = performance.now()
        // The raw URL, not Elysia's `query`: that has attr.* and unknown parameters stripped.
        const search = parseSearch(searchInput(new URL(request.url).searchParams))
        const result = await searchLogs(sql, search)
        const byPage = !search.cursor
        // A page cut short by its byte budget has no next page number: page N + 1 would start after N full
        // pages and skip the rest of this one. Its next_cursor goes on from exactly where it stopped.
        const full = result.logs.length === search.limit
        return {
          logs: result.logs,
          pagination: {
            limit: search.limit,
            page: byPage ? search.page : null,
            has_more: result.hasMore,
            next_page: byPage && full && result.hasMore && search.page < SearchLimits.pageMax ? search.page + 1 : null,
            next_cursor: result.nextCursor,
          },
          took_ms: elapsed(began),
        }
      },
      {
        query: SearchQuery,
        response: { 200: SearchResponse, 400: ErrorSchema, 500: ErrorSchema, 503: ErrorSchema },
        detail: {
          summary: 'Search logs, newest first',
          description:
            'All given filters must match. Paginate with page (seed-compatible) or cursor/next_cursor. ' +
            'Metadata filters: attr.<dotted.path>=value, attr.<path>=* (present), -attr.<path>=value (not equal or absent), -attr.<path>=* (absent). ' +
            'An unknown parameter is a 400 QUERY_INVALID naming it.',
        },
      },
    )
    .get(
      '/query/:trace_id',
      async ({ params }) => {
        const began = performance.now()
        const traceId = parseTraceId(params.trace_id)
        const result = await traceLogs(sql, traceId)
        return {
          trace_id: traceId,
          logs: result.logs,
          pagination: { limit: SearchLimits.traceMax, truncated: result.truncated },
          took_ms: elapsed(began),
        }
      },
      {
        params: t.Object({ trace_id: t.String({ description: accepted.trace_id }) }),
        response: { 200: TraceResponse, 400: ErrorSchema, 500: ErrorSchema, 503: ErrorSchema },
        detail: {
          summary: 'Every log of a trace, oldest first',
          description: `At most ${SearchLimits.traceMax} logs; pagination.truncated says when there were more. An unknown trace id gives an empty list.`,
        },
      },
    )
    .get(
      '/metrics',
      () => {
        if (registry) return metricsResponse(registry)
        throw new NotFoundError('this query API keeps no metrics')
      },
      {
        detail: {
          summary: 'Prometheus metrics',
          description: 'Request counts and durations by route pattern, and process metrics, in Prometheus text format. Needs a read key like the data routes.',
        },
      },
    )
    .use(histogramRoutes(sql))
    .use(facetRoutes(sql))
    .use(contextExportRoutes({ sql, log }))
    .use(tailRoutes(tail))
    .use(explorerRoutes({ log }))
}

export type QueryApp = ReturnType<typeof createQueryApp>
