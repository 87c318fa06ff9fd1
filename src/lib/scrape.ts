import type { Registry } from 'prom-client'
import { authenticateRequest } from './auth/credentials.ts'
import type { Authenticator } from './auth/key-ring.ts'
import { asLogStreamError, httpError, UnauthenticatedError } from './errors.ts'
import { metricsResponse } from './metrics.ts'
import { retryHeaders } from './retry-after.ts'

/**
 * GET /metrics on a port served by Bun.serve (the HTTP intake, the consumer): metrics describe the service
 * rather than carry logs, yet they follow the read scope like the query API's /metrics (issue 15), checked by
 * the same authenticator, so one key scrapes every service; open when keys are off. A refusal is the usual
 * JSON error body, a 401 carrying `challenges`, a throttled 429 its Retry-After.
 */
export async function scrapeResponse(
  request: Request,
  registry: Registry,
  authenticator: Authenticator,
  peer: string,
  challenges: readonly string[],
): Promise<Response> {
  try {
    authenticateRequest(authenticator, request, 'read', peer)
  } catch (error) {
    const failure = asLogStreamError(error)
    const { status, body } = httpError(failure)
    const response = Response.json(body, { status, headers: retryHeaders(failure) })
    if (failure instanceof UnauthenticatedError) for (const challenge of challenges) response.headers.append('www-authenticate', challenge)
    return response
  }
  return metricsResponse(registry)
}
