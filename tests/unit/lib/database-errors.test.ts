import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { classifyDatabaseError, toDatabaseError } from '../../../src/lib/database-errors.ts'
import { DatabaseUnavailableError, QueryTimeoutError } from '../../../src/lib/errors.ts'

/** A server error as postgres.js raises it (no server needed: the class only copies the fields). */
const serverError = (code: string, message = `server says ${code}`) => new postgres.PostgresError({ code, message, severity: 'ERROR' } as never)
/** A socket or postgres.js connection error: an Error with a string code. */
const connectionError = (code: string) => Object.assign(new Error(`${code} 127.0.0.1:5432`), { code })

describe('classifyDatabaseError', () => {
  test.each([
    ['ECONNREFUSED', 'nothing listens'],
    ['ECONNRESET', 'connection reset'],
    ['EPIPE', 'connection broken while writing'],
    ['ETIMEDOUT', 'no reply (the write pool cuts a silent socket with it)'],
    ['EHOSTUNREACH', 'host unreachable'],
    ['ENETUNREACH', 'network unreachable'],
    ['CONNECTION_CLOSED', 'postgres.js: closed by the server'],
    ['CONNECTION_ENDED', 'postgres.js: sql.end() called'],
    ['CONNECTION_DESTROYED', 'postgres.js: destroyed'],
    ['CONNECT_TIMEOUT', 'postgres.js: connect_timeout passed'],
  ])('%s (%s) is DATABASE_UNAVAILABLE', (code) => {
    const failure = classifyDatabaseError(connectionError(code))
    expect(failure).toBeInstanceOf(DatabaseUnavailableError)
    expect(failure!.retryable).toBe(true)
  })

  test.each([
    ['08006', 'connection failure'],
    ['08001', 'cannot establish connection'],
    ['53300', 'too many connections'],
    ['53100', 'disk full'],
    ['53200', 'out of memory'],
    ['57P01', 'admin shutdown'],
    ['57P02', 'crash shutdown'],
    ['57P03', 'cannot connect now (starting up)'],
    ['40001', 'serialization failure'],
    ['40P01', 'deadlock detected'],
    ['55P03', 'lock not available'],
  ])('SQLSTATE %s (%s) is DATABASE_UNAVAILABLE', (code) => {
    const failure = classifyDatabaseError(serverError(code))
    expect(failure).toBeInstanceOf(DatabaseUnavailableError)
    expect(failure!.code).toBe('DATABASE_UNAVAILABLE')
  })

  test('SQLSTATE 57014 (statement cancelled, statement_timeout) is QUERY_TIMEOUT, retryable', () => {
    const failure = classifyDatabaseError(serverError('57014', 'canceling statement due to statement timeout'))
    expect(failure).toBeInstanceOf(QueryTimeoutError)
    expect([failure!.code, failure!.retryable, failure!.httpStatus]).toEqual(['QUERY_TIMEOUT', true, 503])
  })

  test.each([
    ['23505', 'unique violation'],
    ['23514', 'check violation'],
    ['23502', 'not-null violation'],
    ['22P02', 'invalid text representation'],
    ['22021', 'invalid byte sequence'],
    ['42P01', 'undefined table'],
    ['42601', 'syntax error'],
    ['57P04', 'database dropped'],
    ['XX000', 'internal error'],
  ])('SQLSTATE %s (%s) is a statement error, left to the caller', (code) => {
    expect(classifyDatabaseError(serverError(code))).toBeUndefined()
  })

  test('errors without a string code are statement errors too', () => {
    expect([new Error('plain'), new TypeError('bug'), { code: 8006 }, null, undefined, 'text'].map((error) => classifyDatabaseError(error))).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ])
  })

  test('the message starts with the context and keeps the driver message; the original is the cause', () => {
    const original = serverError('57P01', 'terminating connection due to administrator command')
    const failure = classifyDatabaseError(original, 'cannot write logs')
    expect(failure!.message).toBe('cannot write logs: terminating connection due to administrator command')
    expect(failure!.cause).toBe(original)
  })

  test('an error already classified passes through unchanged', () => {
    const already = new QueryTimeoutError('cannot search logs: canceling statement')
    expect(classifyDatabaseError(already, 'again')).toBe(already)
  })
})

describe('toDatabaseError', () => {
  test('classifies what it can and returns statement errors as they are', () => {
    expect(toDatabaseError(connectionError('ECONNREFUSED'), 'cannot search logs')).toBeInstanceOf(DatabaseUnavailableError)
    const statement = serverError('23514')
    expect(toDatabaseError(statement, 'cannot search logs')).toBe(statement)
  })
})
