import { RequestInvalidError } from '../errors.ts'
import { ExportLogsRequestType, ExportLogsResponseType, RpcStatusType } from '../proto.ts'
import type { Parsed } from '../protocols/document.ts'
import { type ExportLogsRequest, exportResponse, otlpEntries, otlpJsonEntries } from '../protocols/otlp.ts'
import { acceptParsed, describeProblems } from '../protocols/outcome.ts'
import { retryHeaders } from '../retry-after.ts'
import type { Route } from './route.ts'

/**
 * OTLP/HTTP logs (`POST /v1/logs`), binary protobuf or OTLP/JSON, answered in the request's encoding:
 * 200 with an empty response, or with partial_success when some records were refused (never retried by
 * exporters); 400 with a google.rpc.Status for a payload that cannot be read or holds nothing valid;
 * 429/503 with Retry-After when retrying later can help.
 */

const PROTOBUF = 'application/x-protobuf'
const JSON_TYPE = 'application/json'

function entriesOf(body: Uint8Array, contentType: string): Parsed[] {
  if (contentType === PROTOBUF) {
    let request: ExportLogsRequest
    try {
      request = ExportLogsRequestType.toObject(ExportLogsRequestType.decode(body), { longs: String, defaults: false }) as ExportLogsRequest
    } catch (error) {
      throw new RequestInvalidError(`not a protobuf ExportLogsServiceRequest: ${(error as Error).message}`)
    }
    return otlpEntries(request)
  }
  if (contentType === JSON_TYPE) return otlpJsonEntries(Buffer.from(body).toString('utf8'))
  throw new RequestInvalidError(`Content-Type must be ${PROTOBUF} or ${JSON_TYPE}, got "${contentType || 'none'}"`)
}

function reply(status: number, contentType: string, message: object, type: typeof ExportLogsResponseType, headers: Record<string, string> = {}): Response {
  if (contentType === PROTOBUF) {
    return new Response(Buffer.from(type.encode(type.fromObject(message)).finish()), { status, headers: { 'content-type': PROTOBUF, ...headers } })
  }
  const json = type.toObject(type.fromObject(message), { longs: String })
  return Response.json(json, { status, headers })
}

export const otlpRoute: Route = {
  protocol: 'otlp_http',
  matches: (method, path) => method === 'POST' && path === '/v1/logs',
  readsBody: true,
  async handle(request, intake) {
    const parsed = entriesOf(request.body, request.contentType)
    if (parsed.length === 0) return reply(200, request.contentType, {}, ExportLogsResponseType)
    const outcome = await acceptParsed(intake, parsed, request.accept)
    const summary = outcome.rejected > 0 ? describeProblems(outcome, 'logRecords') : ''
    if (outcome.accepted === 0) throw new RequestInvalidError(summary)
    return reply(200, request.contentType, exportResponse(outcome.rejected, summary), ExportLogsResponseType)
  },
  fail(error, request) {
    const contentType = request.contentType === JSON_TYPE ? JSON_TYPE : PROTOBUF
    return reply(error.httpStatus, contentType, { code: error.grpcStatus, message: error.message }, RpcStatusType, retryHeaders(error))
  },
}
