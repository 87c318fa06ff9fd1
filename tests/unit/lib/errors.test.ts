import { describe, expect, test } from 'bun:test'
import {
  asLogStreamError,
  BatchAbandonedError,
  ConfigError,
  DatabaseUnavailableError,
  ErrorCodes,
  GrpcStatus,
  httpError,
  InfraError,
  IngestOverloadedError,
  IngestShuttingDownError,
  InternalError,
  KafkaUnavailableError,
  LogStreamError,
  NotFoundError,
  PermissionDeniedError,
  QueryInvalidError,
  QueryTimeoutError,
  RateLimitedError,
  RequestInvalidError,
  RequestTooLargeError,
  TailLimitError,
  TailUnavailableError,
  UnauthenticatedError,
  UndecodableMessageError,
} from '../../../src/lib/errors.ts'

/** One row per class: what it is raised as, and the code, retryable flag and statuses callers act on. A new class (and code) needs its row here. */
const classes: [LogStreamError, string, boolean, number, number][] = [
  [new ConfigError('HTTP_PORT', 'must be a port'), 'CONFIG_INVALID', false, 500, GrpcStatus.INTERNAL],
  [new InfraError('no broker'), 'INFRA_UNAVAILABLE', true, 500, GrpcStatus.INTERNAL],
  [new RequestInvalidError('no logs'), 'REQUEST_INVALID', false, 400, GrpcStatus.INVALID_ARGUMENT],
  [new RequestTooLargeError('over 4 MiB'), 'REQUEST_TOO_LARGE', false, 413, GrpcStatus.RESOURCE_EXHAUSTED],
  [new IngestOverloadedError('full'), 'INGEST_OVERLOADED', true, 429, GrpcStatus.RESOURCE_EXHAUSTED],
  [new IngestShuttingDownError(), 'INGEST_SHUTTING_DOWN', true, 503, GrpcStatus.UNAVAILABLE],
  [new KafkaUnavailableError('broker down'), 'KAFKA_UNAVAILABLE', true, 503, GrpcStatus.UNAVAILABLE],
  [new UndecodableMessageError('not protobuf'), 'MESSAGE_UNDECODABLE', false, 500, GrpcStatus.INTERNAL],
  [new DatabaseUnavailableError('server gone'), 'DATABASE_UNAVAILABLE', true, 503, GrpcStatus.UNAVAILABLE],
  [new QueryTimeoutError('statement timeout'), 'QUERY_TIMEOUT', true, 503, GrpcStatus.DEADLINE_EXCEEDED],
  [new QueryInvalidError('limit', 'limit: too big'), 'QUERY_INVALID', false, 400, GrpcStatus.INVALID_ARGUMENT],
  [new NotFoundError('no such route'), 'NOT_FOUND', false, 404, GrpcStatus.NOT_FOUND],
  [new InternalError(new Error('bug')), 'INTERNAL', false, 500, GrpcStatus.INTERNAL],
  [new BatchAbandonedError(), 'BATCH_ABANDONED', true, 503, GrpcStatus.UNAVAILABLE],
  [new TailLimitError(100), 'TAIL_LIMIT', true, 429, GrpcStatus.RESOURCE_EXHAUSTED],
  [new TailUnavailableError(), 'TAIL_UNAVAILABLE', true, 503, GrpcStatus.UNAVAILABLE],
  [new UnauthenticatedError(), 'AUTH_REQUIRED', false, 401, GrpcStatus.UNAUTHENTICATED],
  [new PermissionDeniedError('read'), 'AUTH_FORBIDDEN', false, 403, GrpcStatus.PERMISSION_DENIED],
  [new RateLimitedError('slow down', 1000), 'RATE_LIMITED', true, 429, GrpcStatus.RESOURCE_EXHAUSTED],
]

describe('error classes', () => {
  test.each(classes.map((row) => [row[0].name, ...row] as const))(
    '%s carries its code, retryable flag and statuses',
    (name, error, code, retryable, httpStatus, grpcStatus) => {
      expect(error).toBeInstanceOf(LogStreamError)
      expect(error).toBeInstanceOf(Error)
      expect(error.name).toBe(name)
      expect([error.code, error.retryable, error.httpStatus, error.grpcStatus]).toEqual([code as never, retryable, httpStatus, grpcStatus as never])
    },
  )

  test('every code has exactly one class, and every class its own code', () => {
    const codes = classes.map(([error]) => error.code)
    expect(new Set(codes).size).toBe(codes.length)
    expect([...codes].sort()).toEqual(Object.values(ErrorCodes).sort())
    expect(new Set(classes.map(([error]) => error.constructor)).size).toBe(classes.length)
  })

  test('keep the cause they were given', () => {
    const cause = new Error('ECONNREFUSED')
    expect(new DatabaseUnavailableError('down', cause).cause).toBe(cause)
    expect(new QueryTimeoutError('slow', cause).cause).toBe(cause)
    expect(new InternalError(cause).cause).toBe(cause)
  })

  test('ConfigError names the variable; QueryInvalidError names the parameter in its details', () => {
    const config = new ConfigError('HTTP_PORT', 'must be between 1 and 65535')
    expect([config.variable, config.message]).toEqual(['HTTP_PORT', 'HTTP_PORT: must be between 1 and 65535'])
    expect(new QueryInvalidError('limit', 'limit: too big').details()).toEqual({ parameter: 'limit' })
    expect(new DatabaseUnavailableError('down').details()).toEqual({})
  })

  test('an InternalError says nothing about its cause', () => {
    expect(new InternalError(new Error('password=hunter2')).message).toBe('internal error')
  })
})

describe('asLogStreamError', () => {
  test('keeps a LogStreamError as it is and wraps anything else as INTERNAL', () => {
    const known = new NotFoundError('gone')
    expect(asLogStreamError(known)).toBe(known)
    const bug = new TypeError('x is undefined')
    const wrapped = asLogStreamError(bug)
    expect(wrapped).toBeInstanceOf(InternalError)
    expect(wrapped.cause).toBe(bug)
    expect(asLogStreamError('a thrown string')).toBeInstanceOf(InternalError)
  })
})

describe('httpError', () => {
  test('answers a bad parameter with 400 and a body naming it', () => {
    expect(httpError(new QueryInvalidError('from', 'from: "yesterday" is not a time'))).toEqual({
      status: 400,
      body: { error: 'QUERY_INVALID', message: 'from: "yesterday" is not a time', parameter: 'from' },
    })
  })

  test.each([
    ['NOT_FOUND', new NotFoundError('no such route'), 404],
    ['REQUEST_INVALID', new RequestInvalidError('unparsable'), 400],
    ['DATABASE_UNAVAILABLE', new DatabaseUnavailableError('cannot search logs: connect ECONNREFUSED'), 503],
    ['QUERY_TIMEOUT', new QueryTimeoutError('cannot search logs: canceling statement due to statement timeout'), 503],
    ['INGEST_OVERLOADED', new IngestOverloadedError('full'), 429],
    ['TAIL_LIMIT', new TailLimitError(2), 429],
  ] as const)('answers %s from the status, code and message of the error alone', (code, error, status) => {
    expect(httpError(error)).toEqual({ status, body: { error: code, message: error.message } })
  })

  test('answers anything else with a 500 INTERNAL that does not repeat its message', () => {
    expect(httpError(new Error('relation "logz" does not exist'))).toEqual({ status: 500, body: { error: 'INTERNAL', message: 'internal error' } })
    expect(httpError(undefined)).toEqual({ status: 500, body: { error: 'INTERNAL', message: 'internal error' } })
  })
})
