import { type LogStreamError, RateLimitedError } from './errors.ts'

/**
 * Seconds a client should wait before retrying a retryable failure; shippers (the OpenTelemetry
 * exporters, Promtail, Fluent Bit) honour Retry-After on 429 and 503.
 */
export const RETRY_AFTER_SECONDS = 2

/** How long a client should wait before retrying: a rate limit's own wait, else RETRY_AFTER_SECONDS; undefined when retrying cannot help. */
export function retryDelayMs(error: LogStreamError): number | undefined {
  if (error instanceof RateLimitedError) return error.retryAfterMs
  return error.retryable ? RETRY_AFTER_SECONDS * 1000 : undefined
}

/** Retry-After (whole seconds, rounded up) for a retryable failure, nothing for one that retrying cannot fix. */
export function retryHeaders(error: LogStreamError): Record<string, string> {
  const delay = retryDelayMs(error)
  return delay === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(delay / 1000))) }
}
