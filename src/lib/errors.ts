/**
 * Every error LogStream raises on purpose carries a stable `code`, whether retrying could help,
 * and the HTTP / gRPC status it maps to. Callers decide retry vs. dead-letter vs. reply from these
 * fields alone, never from message text.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  INFRA_UNAVAILABLE: 'INFRA_UNAVAILABLE',
  LOG_INVALID: 'LOG_INVALID',
  REQUEST_INVALID: 'REQUEST_INVALID',
  REQUEST_TOO_LARGE: 'REQUEST_TOO_LARGE',
  INGEST_OVERLOADED: 'INGEST_OVERLOADED',
  INGEST_SHUTTING_DOWN: 'INGEST_SHUTTING_DOWN',
  KAFKA_UNAVAILABLE: 'KAFKA_UNAVAILABLE',
  MESSAGE_UNDECODABLE: 'MESSAGE_UNDECODABLE',
  DATABASE_UNAVAILABLE: 'DATABASE_UNAVAILABLE',
  QUERY_INVALID: 'QUERY_INVALID',
} as const
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** gRPC status numbers we use (from grpc's status.proto), kept here so errors need not import grpc-js. */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
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

/** A query-API parameter is malformed or out of range; `parameter` names it and the message says what is accepted. */
export class QueryInvalidError extends LogStreamError {
  readonly parameter: string
  constructor(parameter: string, message: string) {
    super(ErrorCodes.QUERY_INVALID, message, { retryable: false, httpStatus: 400, grpcStatus: GrpcStatus.INVALID_ARGUMENT })
    this.parameter = parameter
  }
}
