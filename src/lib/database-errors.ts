import { DatabaseUnavailableError, type LogStreamError, QueryTimeoutError } from './errors.ts'

/**
 * The one place that reads PostgreSQL and socket error codes. A failure either says nothing about the
 * statement (the server or connection is gone, a transient conflict, a cancellation: the same statement
 * may succeed later) and becomes a retryable LogStreamError, or it is a statement error (bad data, a
 * constraint, a bug) and is left as it is for the caller: the writer narrows it down to the offending
 * rows, the query API answers it as INTERNAL.
 */

/** Node socket codes and postgres.js's own connection codes: no server to talk to. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
])

/**
 * SQLSTATEs (PostgreSQL Appendix A) that mean "not now" rather than "not this statement":
 * 08 connection exception, 53 insufficient resources (disk full, out of memory, too many connections),
 * 57P01-03 the server is shutting down, crashed or not yet accepting connections;
 * 40 transaction rollback (serialization failure, deadlock) and 55P03 lock not available: the statement
 * lost a race with a concurrent one.
 */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3]|40|55P03)/
/** query_canceled: statement_timeout ran out (or someone cancelled the backend's statement). */
const CANCELLED_SQLSTATE = '57014'

const detail = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * The retryable LogStreamError a database failure amounts to, or undefined for a statement error.
 * `context` starts the message (e.g. "cannot write logs"); the driver's message follows it.
 */
export function classifyDatabaseError(error: unknown, context = 'database'): LogStreamError | undefined {
  if (error instanceof DatabaseUnavailableError || error instanceof QueryTimeoutError) return error
  const code = (error as { code?: unknown } | null | undefined)?.code
  if (typeof code !== 'string') return undefined
  if (code === CANCELLED_SQLSTATE) return new QueryTimeoutError(`${context}: ${detail(error)}`, error)
  if (CONNECTION_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code)) return new DatabaseUnavailableError(`${context}: ${detail(error)}`, error)
  return undefined
}

/** `error` classified (see classifyDatabaseError), or unchanged when it is a statement error. For `catch (e) { throw toDatabaseError(e, …) }`. */
export function toDatabaseError(error: unknown, context: string): unknown {
  return classifyDatabaseError(error, context) ?? error
}
