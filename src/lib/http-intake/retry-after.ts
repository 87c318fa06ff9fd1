import type { LogStreamError } from '../errors.ts'

/**
 * Seconds a client should wait before retrying a retryable failure; shippers (the OpenTelemetry
 * exporters, Promtail, Fluent Bit) honour Retry-After on 429 and 503.
 */
export const RETRY_AFTER_SECONDS = 2

/** Retry-After for a retryable failure, nothing for one that retrying cannot fix. */
export function retryHeaders(error: LogStreamError): Record<string, string> {
  return error.retryable ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {}
}
