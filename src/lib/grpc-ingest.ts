import * as grpc from '@grpc/grpc-js'
import type { RateLimits } from './auth/rate-limits.ts'
import type { Config } from './config.ts'
import { type LogStreamError, RequestInvalidError } from './errors.ts'
import { callerOf } from './grpc-auth.ts'
import { statusFor, waitLimitMs } from './grpc-status.ts'
import type { Intake } from './intake.ts'
import { requestIntake } from './limited-intake.ts'
import type { Logger } from './log.ts'
import { ingestMeter } from './metered-intake.ts'
import type { IngestMetrics } from './metrics.ts'
import type { IngestResponse, ReceivedRequest } from './proto.ts'

/**
 * logstream.LogIngestion/Ingest, the native gRPC intake: each received entry goes to the intake as it
 * arrived, within the caller's rate limits, and the intake's answer or typed error is rendered as a gRPC
 * status (an all-invalid request describes every entry in a binary trailer; a rate limit RESOURCE_EXHAUSTED
 * with a RetryInfo of its wait).
 */
export function ingestHandlers(intake: Intake, limits: RateLimits, config: Pick<Config, 'ingest'>, log: Logger, metrics?: IngestMetrics) {
  return {
    Ingest: (call: grpc.ServerUnaryCall<ReceivedRequest, IngestResponse>, callback: grpc.sendUnaryData<IngestResponse>) => {
      const meter = metrics && ingestMeter(metrics, 'grpc')
      const controller = new AbortController()
      const onCancel = () => controller.abort(new Error('the client cancelled the call'))
      call.once('cancelled', onCancel)
      Promise.resolve()
        .then(() => {
          if (call.request.problem) throw new RequestInvalidError(call.request.problem)
          return requestIntake(intake, limits, callerOf(call.metadata), call.request.bytes, meter).accept(call.request.logs, {
            timeoutMs: waitLimitMs(call, config.ingest.sendTimeoutMs),
            signal: controller.signal,
          })
        })
        .then(
          (response) => {
            callback(null, response)
            meter?.answered(true)
          },
          (error: unknown) => {
            if (call.cancelled) return
            const status = statusFor(error)
            if (status.code === grpc.status.INTERNAL) log.error('ingest.failed', { error })
            else if (status.code !== grpc.status.INVALID_ARGUMENT) log.warn('ingest.refused', { code: (error as LogStreamError).code, detail: status.details })
            callback({ code: status.code, details: status.details, metadata: status.metadata ?? undefined })
          },
        )
        .finally(() => call.removeListener('cancelled', onCancel))
    },
  }
}
