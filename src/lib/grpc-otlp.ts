import * as grpc from '@grpc/grpc-js'
import type { RateLimits } from './auth/rate-limits.ts'
import { LogStreamError, RequestInvalidError } from './errors.ts'
import { callerOf } from './grpc-auth.ts'
import { statusFor, waitLimitMs } from './grpc-status.ts'
import type { Intake } from './intake.ts'
import { requestIntake } from './limited-intake.ts'
import type { Logger } from './log.ts'
import { ingestMeter } from './metered-intake.ts'
import type { IngestMetrics } from './metrics.ts'
import type { ReceivedExport } from './proto.ts'
import { type ExportLogsRequest, exportResponse, otlpEntries } from './protocols/otlp.ts'
import { acceptParsed, describeProblems } from './protocols/outcome.ts'

/**
 * OTLP/gRPC logs (`opentelemetry.proto.collector.logs.v1.LogsService/Export`) on the ingest gRPC server:
 * OK with an empty response, or with partial_success when some records were refused; INVALID_ARGUMENT for
 * a payload that cannot be read or holds nothing valid; and, for anything retrying can fix (overload,
 * Kafka down, shutting down, a key over its rate limit), UNAVAILABLE with a RetryInfo: the OTLP
 * specification makes exporters retry RESOURCE_EXHAUSTED only when it carries one, and UNAVAILABLE always.
 */

/** The gRPC status OTLP exporters act on for a failure. */
export function otlpStatusFor(error: unknown): grpc.StatusObject {
  if (!(error instanceof LogStreamError) || !error.retryable) return statusFor(error)
  return statusFor(error, grpc.status.UNAVAILABLE)
}

type ExportCall = grpc.ServerUnaryCall<ReceivedExport, object>

async function exportLogs(call: ExportCall, intake: Intake, sendTimeoutMs: number, signal: AbortSignal): Promise<object> {
  const { request, problem } = call.request
  if (!request) throw new RequestInvalidError(problem ?? 'the request could not be decoded')
  const parsed = otlpEntries(request as ExportLogsRequest)
  if (parsed.length === 0) return {}
  const outcome = await acceptParsed(intake, parsed, { timeoutMs: waitLimitMs(call, sendTimeoutMs), signal })
  const summary = outcome.rejected > 0 ? describeProblems(outcome, 'logRecords') : ''
  if (outcome.accepted === 0) throw new RequestInvalidError(summary)
  return exportResponse(outcome.rejected, summary)
}

export function otlpHandlers(
  intake: Intake,
  limits: RateLimits,
  { sendTimeoutMs, log, metrics }: { sendTimeoutMs: number; log: Logger; metrics?: IngestMetrics },
) {
  return {
    Export: (call: ExportCall, callback: grpc.sendUnaryData<object>) => {
      const meter = metrics && ingestMeter(metrics, 'otlp_grpc')
      const controller = new AbortController()
      const onCancel = () => controller.abort(new Error('the client cancelled the call'))
      call.once('cancelled', onCancel)
      Promise.resolve()
        .then(() => {
          return exportLogs(call, requestIntake(intake, limits, callerOf(call.metadata), call.request.bytes, meter), sendTimeoutMs, controller.signal)
        })
        .then(
          (response) => {
            callback(null, response)
            meter?.answered(true)
          },
          (error: unknown) => {
            if (call.cancelled) return
            const status = otlpStatusFor(error)
            if (status.code === grpc.status.INTERNAL) log.error('ingest.otlp.failed', { error })
            else if (status.code !== grpc.status.INVALID_ARGUMENT) log.warn('ingest.refused', { code: (error as LogStreamError).code, detail: status.details })
            callback({ code: status.code, details: status.details, metadata: status.metadata ?? undefined })
          },
        )
        .finally(() => call.removeListener('cancelled', onCancel))
    },
  }
}
