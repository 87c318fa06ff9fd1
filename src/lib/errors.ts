/**
 * Every error LogStream raises on purpose carries a stable `code` (one class per code), whether retrying
 * could help, and the HTTP / gRPC status it maps to. Callers decide retry vs. dead-letter vs. reply from
 * these fields alone, never from message text (in the way of Hono's HTTPException and
 * @platformatic/kafka's error classes).
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  INFRA_UNAVAILABLE: 'INFRA_UNAVAILABLE',
  REQUEST_INVALID: 'REQUEST_INVALID',
  REQUEST_TOO_LARGE: 'REQUEST_TOO_LARGE',
  INGEST_OVERLOADED: 'INGEST_OVERLOADED',
  INGEST_SHUTTING_DOWN: 'INGEST_SHUTTING_DOWN',
  KAFKA_UNAVAILABLE: 'KAFKA_UNAVAILABLE',
  MESSAGE_UNDECODABLE: 'MESSAGE_UNDECODABLE',
  DATABASE_UNAVAILABLE: 'DATABASE_UNAVAILABLE',
  QUERY_TIMEOUT: 'QUERY_TIMEOUT',
  QUERY_INVALID: 'QUERY_INVALID',
  NOT_FOUND: 'NOT_FOUND',
  INTERNAL: 'INTERNAL',
  BATCH_ABANDONED: 'BATCH_ABANDONED',
  TAIL_LIMIT: 'TAIL_LIMIT',
  TAIL_UNAVAILABLE: 'TAIL_UNAVAILABLE',
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  AUTH_FORBIDDEN: 'AUTH_FORBIDDEN',
  RATE_LIMITED: 'RATE_LIMITED',
} as const
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** gRPC status numbers we use (from grpc's status.proto), kept here so errors need not import grpc-js. */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus]

export interface LogStreamErrorOptions {
  retryable?: boolean
  httpStatus?: number
  grpcStatus?: GrpcStatusCode
  cause?: unknown
}

export class LogStreamError extends Error {
  readonly code: ErrorCode
  readonly retryable: boolean
  readonly httpStatus: number
  readonly grpcStatus: GrpcStatusCode

  constructor(code: ErrorCode, message: string, options: LogStreamErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.retryable = options.retryable ?? false
    this.httpStatus = options.httpStatus ?? 500
    this.grpcStatus = options.grpcStatus ?? GrpcStatus.INTERNAL
  }

  /** Fields a client can act on besides code and message (e.g. the offending parameter); added to response bodies. */
  details(): Record<string, string> {
    return {}
  }
}

/** A setting is missing or malformed; the message names the variable. */
export class ConfigError extends LogStreamError {
  readonly variable: string
  constructor(variable: string, message: string) {
    super(ErrorCodes.CONFIG_INVALID, `${variable}: ${message}`)
    this.variable = variable
  }
}

/** Kafka or PostgreSQL could not be reached or started by the infrastructure scripts. */
export class InfraError extends LogStreamError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.INFRA_UNAVAILABLE, message, { retryable: true, cause })
  }
}

export class KafkaUnavailableError extends LogStreamError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.KAFKA_UNAVAILABLE, message, {
      retryable: true,
      httpStatus: 503,
      grpcStatus: GrpcStatus.UNAVAILABLE,
      cause,
    })
  }
}

/**
 * PostgreSQL cannot serve the statement now: the server or connection is gone, or the statement lost a
 * deadlock / serialization / lock race (src/lib/database-errors.ts decides). The same statement may
 * succeed later.
 */
export class DatabaseUnavailableError extends LogStreamError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.DATABASE_UNAVAILABLE, message, {
      retryable: true,
      httpStatus: 503,
      grpcStatus: GrpcStatus.UNAVAILABLE,
      cause,
    })
  }
}

/**
 * PostgreSQL cancelled the statement (SQLSTATE 57014), nearly always because it ran past statement_timeout
 * (QUERY_TIMEOUT_MS for the query API, the write timeout for the consumer). Its own code, not
 * DATABASE_UNAVAILABLE: the server answers, the statement was too slow, so a narrower query may succeed
 * where a retry of the same one may not. Still retryable: the usual cause is a lock or a busy server.
 */
export class QueryTimeoutError extends LogStreamError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.QUERY_TIMEOUT, message, {
      retryable: true,
      httpStatus: 503,
      grpcStatus: GrpcStatus.DEADLINE_EXCEEDED,
      cause,
    })
  }
}

/** A Kafka message that can never be stored as it is: retrying cannot help, so it is dead-lettered. */
export class UndecodableMessageError extends LogStreamError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCodes.MESSAGE_UNDECODABLE, message, { retryable: false, cause })
  }
}

/** The ingest service holds as many unacknowledged bytes as it may; the client should back off and retry. */
export class IngestOverloadedError extends LogStreamError {
  constructor(message: string) {
    super(ErrorCodes.INGEST_OVERLOADED, message, { retryable: true, httpStatus: 429, grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED })
  }
}

/** The ingest service is stopping and takes no new work; another instance (or this one, restarted) will. */
export class IngestShuttingDownError extends LogStreamError {
  constructor(message = 'the ingest service is shutting down; retry') {
    super(ErrorCodes.INGEST_SHUTTING_DOWN, message, { retryable: true, httpStatus: 503, grpcStatus: GrpcStatus.UNAVAILABLE })
  }
}

/** The request as a whole cannot be accepted (no logs, or none valid); retrying it unchanged cannot help. */
export class RequestInvalidError extends LogStreamError {
  constructor(message: string) {
    super(ErrorCodes.REQUEST_INVALID, message, { retryable: false, httpStatus: 400, grpcStatus: GrpcStatus.INVALID_ARGUMENT })
  }
}

/** A request (or its body once decompressed) is over the documented size limit; send smaller ones. */
export class RequestTooLargeError extends LogStreamError {
  constructor(message: string) {
    super(ErrorCodes.REQUEST_TOO_LARGE, message, { retryable: false, httpStatus: 413, grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED })
  }
}

/** A query-API parameter is malformed or out of range; `parameter` names it and the message says what is accepted. */
export class QueryInvalidError extends LogStreamError {
  readonly parameter: string
  constructor(parameter: string, message: string) {
    super(ErrorCodes.QUERY_INVALID, message, { retryable: false, httpStatus: 400, grpcStatus: GrpcStatus.INVALID_ARGUMENT })
    this.parameter = parameter
  }

  override details(): Record<string, string> {
    return { parameter: this.parameter }
  }
}

/** No such route or resource. */
export class NotFoundError extends LogStreamError {
  constructor(message: string) {
    super(ErrorCodes.NOT_FOUND, message, { retryable: false, httpStatus: 404, grpcStatus: GrpcStatus.NOT_FOUND })
  }
}

/**
 * Something we did not expect (a bug, or a failure no class describes): the original is kept as `cause`
 * for the log, and the message says nothing about it, so internals never reach a client.
 */
export class InternalError extends LogStreamError {
  constructor(cause?: unknown) {
    super(ErrorCodes.INTERNAL, 'internal error', { retryable: false, httpStatus: 500, grpcStatus: GrpcStatus.INTERNAL, cause })
  }
}

/** Anything thrown, as a LogStreamError: itself, or an InternalError wrapping it. */
export function asLogStreamError(error: unknown): LogStreamError {
  return error instanceof LogStreamError ? error : new InternalError(error)
}

export interface HttpErrorResponse {
  status: number
  /** `{ error: code, message, ...details }`, e.g. `{ error: 'QUERY_INVALID', message, parameter }`. */
  body: { error: ErrorCode; message: string } & Record<string, string>
}

/**
 * The HTTP answer for a failure, decided by the error alone (what Hono's HTTPException.getResponse()
 * does): its httpStatus, and a body of its code, message and details. Whatever is not a LogStreamError
 * is an INTERNAL 500 that names nothing; the caller logs it.
 */
export function httpError(error: unknown): HttpErrorResponse {
  const failure = asLogStreamError(error)
  return { status: failure.httpStatus, body: { error: failure.code, message: failure.message, ...failure.details() } }
}

/**
 * The consumer stopped before a batch was stored or committed (the database was down, or the shutdown grace
 * ran out): nothing of it is committed, so Kafka re-delivers it to whoever reads the partition next.
 */
export class BatchAbandonedError extends LogStreamError {
  constructor(cause?: unknown) {
    super(ErrorCodes.BATCH_ABANDONED, 'batch abandoned at shutdown; not committed, will be re-delivered', {
      retryable: true,
      httpStatus: 503,
      grpcStatus: GrpcStatus.UNAVAILABLE,
      cause,
    })
  }
}

/** The query process already streams to TAIL_MAX_CLIENTS /tail clients; another may connect once one leaves. */
export class TailLimitError extends LogStreamError {
  constructor(maxClients: number) {
    super(ErrorCodes.TAIL_LIMIT, `this server already streams to ${maxClients} /tail clients (TAIL_MAX_CLIENTS); retry later`, {
      retryable: true,
      httpStatus: 429,
      grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    })
  }
}

/** The query process is shutting down and opens no new /tail stream; another instance (or this one, restarted) will. */
export class TailUnavailableError extends LogStreamError {
  constructor(message = 'the live tail is shutting down; retry') {
    super(ErrorCodes.TAIL_UNAVAILABLE, message, { retryable: true, httpStatus: 503, grpcStatus: GrpcStatus.UNAVAILABLE })
  }
}

/**
 * No API key, or one that is not a live key (unknown, revoked, malformed): 401 / UNAUTHENTICATED. The
 * message never repeats what was sent.
 */
export class UnauthenticatedError extends LogStreamError {
  constructor(message = 'an API key is required: Authorization: Bearer <key> (or HTTP Basic with the key as the password)') {
    super(ErrorCodes.AUTH_REQUIRED, message, { retryable: false, httpStatus: 401, grpcStatus: GrpcStatus.UNAUTHENTICATED })
  }
}

/** A live key whose scope does not allow this: 403 / PERMISSION_DENIED. */
export class PermissionDeniedError extends LogStreamError {
  readonly scope: string
  constructor(scope: string, message = `this API key's scope does not allow this; it needs a key with scope ${scope}`) {
    super(ErrorCodes.AUTH_FORBIDDEN, message, { retryable: false, httpStatus: 403, grpcStatus: GrpcStatus.PERMISSION_DENIED })
    this.scope = scope
  }

  override details(): Record<string, string> {
    return { scope: this.scope }
  }
}

/**
 * A key sent more entries or bytes per second than its limits allow (or one address failed to authenticate
 * too often): 429 / RESOURCE_EXHAUSTED, retryable after `retryAfterMs`.
 */
export class RateLimitedError extends LogStreamError {
  readonly retryAfterMs: number
  constructor(message: string, retryAfterMs: number) {
    super(ErrorCodes.RATE_LIMITED, message, { retryable: true, httpStatus: 429, grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED })
    this.retryAfterMs = retryAfterMs
  }

  override details(): Record<string, string> {
    return { retry_after_ms: String(this.retryAfterMs) }
  }
}
