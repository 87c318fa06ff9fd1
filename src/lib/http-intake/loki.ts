import { RequestInvalidError } from '../errors.ts'
import { LokiPushRequestType } from '../proto.ts'
import { snappyDecode } from '../protocols/encoding.ts'
import { type LokiJsonRequest, type LokiProtoRequest, lokiJsonEntries, lokiProtoEntries } from '../protocols/loki.ts'
import { acceptParsed, describeProblems } from '../protocols/outcome.ts'
import { retryHeaders } from '../retry-after.ts'
import type { Route } from './route.ts'

/**
 * Loki's push API (`POST /loki/api/v1/push`), JSON or snappy-compressed protobuf. 204 when every entry
 * was stored. As in Loki, entries that can never be stored make a 400 naming them (the valid ones of the
 * same push are stored), and only those: overload and Kafka failures are 429/503 with Retry-After,
 * because Promtail, Alloy and Fluent Bit drop a batch answered 400 and retry the others.
 */

function parse(body: Uint8Array, contentType: string, maxBytes: number, hold: (bytes: number) => void) {
  if (contentType === 'application/json') {
    let request: LokiJsonRequest
    try {
      request = JSON.parse(Buffer.from(body).toString('utf8')) as LokiJsonRequest
    } catch (error) {
      throw new RequestInvalidError(`not a JSON push request: ${(error as Error).message}`)
    }
    if (typeof request !== 'object' || request === null || !Array.isArray(request.streams))
      throw new RequestInvalidError('a JSON push request needs {"streams":[…]}')
    return lokiJsonEntries(request)
  }
  if (contentType === 'application/x-protobuf' || contentType === '') {
    const decoded = snappyDecode(body, maxBytes, hold)
    try {
      return lokiProtoEntries(LokiPushRequestType.toObject(LokiPushRequestType.decode(decoded), { longs: String, defaults: false }) as LokiProtoRequest)
    } catch (error) {
      throw new RequestInvalidError(`not a protobuf logproto.PushRequest: ${(error as Error).message}`)
    }
  }
  throw new RequestInvalidError(`Content-Type must be application/x-protobuf (snappy) or application/json, got "${contentType}"`)
}

export const lokiRoute: Route = {
  protocol: 'loki',
  matches: (method, path) => method === 'POST' && (path === '/loki/api/v1/push' || path === '/api/prom/push'),
  readsBody: true,
  async handle(request, intake) {
    const parsed = parse(request.body, request.contentType, request.maxBodyBytes, request.hold)
    if (parsed.length === 0) return new Response(null, { status: 204 })
    const outcome = await acceptParsed(intake, parsed, request.accept)
    if (outcome.rejected > 0) throw new RequestInvalidError(describeProblems(outcome, 'entries'))
    return new Response(null, { status: 204 })
  },
  fail(error) {
    return new Response(`${error.message}\n`, { status: error.httpStatus, headers: { 'content-type': 'text/plain; charset=utf-8', ...retryHeaders(error) } })
  },
}
