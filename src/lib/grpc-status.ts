import * as grpc from '@grpc/grpc-js'
import { LogStreamError } from './errors.ts'
import { NoValidLogsError } from './intake.ts'
import { ERROR_CODE_METADATA, encodeIngestResponse, encodeRetryStatus, RESPONSE_TRAILER, STATUS_DETAILS_METADATA } from './proto.ts'
import { retryDelayMs } from './retry-after.ts'

/** What every gRPC adapter of the intake shares: a status from an error alone, and the time a call may wait. */

/** Time kept back from the client's deadline so our UNAVAILABLE reaches it before it gives up. */
const DEADLINE_MARGIN_MS = 50

/**
 * A gRPC status for any error: ours carry their status and stable code, and a retryable one a RetryInfo
 * saying when to retry (a rate limit's own wait); anything else is INTERNAL.
 */
export function statusFor(error: unknown, code?: grpc.status): grpc.StatusObject {
  const metadata = new grpc.Metadata()
  if (!(error instanceof LogStreamError)) {
    metadata.set(ERROR_CODE_METADATA, 'INTERNAL')
    return { code: grpc.status.INTERNAL, details: `internal error: ${(error as Error)?.message ?? String(error)}`, metadata }
  }
  const status = code ?? (error.grpcStatus as number as grpc.status)
  metadata.set(ERROR_CODE_METADATA, error.code)
  // A request refused for having no valid entry still describes every entry, in a binary trailer.
  if (error instanceof NoValidLogsError) metadata.set(RESPONSE_TRAILER, encodeIngestResponse(error.response))
  const delay = retryDelayMs(error)
  if (delay !== undefined) metadata.set(STATUS_DETAILS_METADATA, encodeRetryStatus(status, error.message, delay))
  return { code: status, details: error.message, metadata }
}

/** How long a call may wait for Kafka: the send timeout, or less when the client's deadline is nearer. */
export function waitLimitMs(call: grpc.ServerUnaryCall<unknown, unknown>, sendTimeoutMs: number): number {
  const deadline = call.getDeadline()
  const at = deadline instanceof Date ? deadline.getTime() : deadline
  if (!Number.isFinite(at)) return sendTimeoutMs
  return Math.max(1, Math.min(sendTimeoutMs, at - Date.now() - DEADLINE_MARGIN_MS))
}
