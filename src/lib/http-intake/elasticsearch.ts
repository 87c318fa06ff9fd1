import { ErrorCodes, RequestInvalidError } from '../errors.ts'
import {
  type BulkItem,
  BulkSyntaxError,
  banner,
  bulkResponse,
  ELASTIC_PRODUCT_HEADER,
  errorResponse,
  itemRejected,
  parseBulk,
} from '../protocols/elasticsearch.ts'
import { acceptParsed } from '../protocols/outcome.ts'
import { retryHeaders } from '../retry-after.ts'
import type { Route } from './route.ts'

/**
 * Elasticsearch's bulk API and the handshake shippers make before it: `GET /` (the version banner),
 * and `{}` for the template, ILM, license and pipeline probes of Beats. Every answer carries
 * `X-Elastic-Product: Elasticsearch`, which Beats and the v8 JS client check.
 */

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers: { ...ELASTIC_PRODUCT_HEADER, ...headers } })

/** Elasticsearch's error type for each of our codes, as its clients log them. */
const ERROR_TYPES: Partial<Record<string, string>> = {
  [ErrorCodes.INGEST_OVERLOADED]: 'es_rejected_execution_exception',
  [ErrorCodes.KAFKA_UNAVAILABLE]: 'unavailable_shards_exception',
  [ErrorCodes.INGEST_SHUTTING_DOWN]: 'node_closed_exception',
  [ErrorCodes.REQUEST_INVALID]: 'illegal_argument_exception',
  [ErrorCodes.REQUEST_TOO_LARGE]: 'content_too_long_exception',
  [ErrorCodes.AUTH_REQUIRED]: 'security_exception',
  [ErrorCodes.AUTH_FORBIDDEN]: 'security_exception',
  [ErrorCodes.RATE_LIMITED]: 'es_rejected_execution_exception',
}

const fail: Route['fail'] = (error) =>
  json(errorResponse(error.httpStatus, ERROR_TYPES[error.code] ?? 'exception', error.message), error.httpStatus, retryHeaders(error))

const BULK_PATH = /^\/(?:([^/_][^/]*)\/)?_bulk$/
const PROBE_PATH = /^\/(?:_license|_xpack|_template|_index_template|_ilm|_ingest|_data_stream|_cluster|_nodes|_component_template|_cat)(?:\/|$)/

/** The index named in `/{index}/_bulk`, percent-decoded; malformed escapes are the client's error, not ours. */
function pathIndex(pathname: string): string | undefined {
  const raw = BULK_PATH.exec(pathname)?.[1]
  if (!raw) return undefined
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new RequestInvalidError(`the index in the path is not valid percent-encoding: ${raw.slice(0, 100)}`)
  }
}

function bulkItems(body: Uint8Array, index: string | undefined): BulkItem[] {
  try {
    return parseBulk(Buffer.from(body).toString('utf8'), index)
  } catch (error) {
    if (error instanceof BulkSyntaxError) throw new RequestInvalidError(error.message)
    throw error
  }
}

const bulk: Route = {
  protocol: 'elasticsearch',
  matches: (method, path) => (method === 'POST' || method === 'PUT') && BULK_PATH.test(path),
  readsBody: true,
  async handle(request, intake) {
    const began = performance.now()
    const items = bulkItems(request.body, pathIndex(request.url.pathname))
    if (items.length === 0) throw new RequestInvalidError('the bulk request has no actions; it must end with a newline')
    const outcome = await acceptParsed(
      intake,
      items.map((item) => item.parsed),
      request.accept,
    )
    const results = outcome.problems.map((problem) => (problem ? itemRejected(problem) : ({ ok: true } as const)))
    return json(bulkResponse(items, results, Math.round(performance.now() - began)))
  },
  fail,
}

const handshake: Route = {
  protocol: 'elasticsearch',
  matches: (method, path) => ((method === 'GET' || method === 'HEAD') && path === '/') || (method !== 'DELETE' && PROBE_PATH.test(path)),
  readsBody: false,
  async handle(request) {
    return json(request.url.pathname === '/' ? banner() : {})
  },
  fail,
}

export const elasticsearchRoutes: Route[] = [bulk, handshake]
