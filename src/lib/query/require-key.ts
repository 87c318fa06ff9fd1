/**
 * Which query-API requests need a `read` key, and the headers that go with a refusal. Everything needs one
 * except what holds no logs: /health (liveness only), the explorer's page and assets (the page asks for a
 * key itself, on its first 401), and the OpenAPI description and its docs page (the API's shape, no data).
 * The list is of what is open, so a route added later needs a key until someone decides otherwise.
 */

import { authenticateRequest } from '../auth/credentials.ts'
import type { Authenticator, Caller } from '../auth/key-ring.ts'
import { type LogStreamError, PermissionDeniedError, RateLimitedError, UnauthenticatedError } from '../errors.ts'
import { retryHeaders } from '../retry-after.ts'

/** The challenge of every 401 (RFC 6750): the query API takes the key as a Bearer token. */
export const WWW_AUTHENTICATE = 'Bearer realm="logstream"'

/** True when `pathname` answers without a key. */
export function isOpenPath(pathname: string): boolean {
  return pathname === '/health' || pathname === '/' || pathname.startsWith('/explorer/') || pathname === '/openapi' || pathname.startsWith('/openapi/')
}

/**
 * The caller of `request`, or undefined for an open path; throws the authenticator's 401/403/429 for the
 * app's onError. The key is read here and handed on, never kept or logged.
 */
export function checkReadKey(authenticator: Authenticator, request: Request, peer: string): Caller | undefined {
  if (isOpenPath(new URL(request.url).pathname)) return undefined
  return authenticateRequest(authenticator, request, 'read', peer)
}

/** True for the refusals checkReadKey throws: expected answers to clients, not failures of this service. */
export const isAuthRefusal = (error: LogStreamError): boolean =>
  error instanceof UnauthenticatedError || error instanceof PermissionDeniedError || error instanceof RateLimitedError

/** Headers a refusal carries: the challenge on a 401, Retry-After (whole seconds, at least 1) on a throttled 429. */
export function refusalHeaders(error: LogStreamError): Record<string, string> {
  if (error instanceof UnauthenticatedError) return { 'www-authenticate': WWW_AUTHENTICATE }
  if (error instanceof RateLimitedError) return retryHeaders(error)
  return {}
}

/** True while `key` may still read; a throttled address is not a revoked key, so that alone ends nothing. */
export function stillReads(authenticator: Authenticator, key: string | undefined, peer: string): boolean {
  try {
    authenticator.authenticate(key, 'read', peer)
    return true
  } catch (error) {
    return error instanceof RateLimitedError
  }
}

/**
 * `stream` (a /tail response's body) ended once `stillAllowed` says no, asked at most every `everyMs` as frames
 * pass: /tail streams never end by themselves and heartbeats keep them flowing, so a key revoked while one is
 * open stops it within a heartbeat or two. The client then reconnects, and is refused like any other request.
 */
export function endWhenRevoked<T>(stream: ReadableStream<T>, stillAllowed: () => boolean, everyMs: number, now: () => number = Date.now): ReadableStream<T> {
  const reader = stream.getReader()
  let checked = now()
  return new ReadableStream<T>({
    async pull(controller) {
      const { done, value } = await reader.read()
      if (done) return controller.close()
      if (now() - checked >= everyMs) {
        checked = now()
        if (!stillAllowed()) {
          await reader.cancel()
          return controller.close()
        }
      }
      controller.enqueue(value)
    },
    cancel: (reason) => reader.cancel(reason),
  })
}
