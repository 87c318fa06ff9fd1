import type { Caller } from './auth/key-ring.ts'
import type { RateLimits } from './auth/rate-limits.ts'
import type { Intake } from './intake.ts'
import type { IngestMeter } from './metered-intake.ts'

/**
 * The intake as one request of `caller` sees it: accept first takes the entries it is given and the
 * request's `bytes` from the caller's rate limits (RateLimitedError when over them, before any entry is
 * validated or queued). Every transport hands its adapters this, so each protocol is limited the same way.
 */
function limitedIntake(intake: Intake, limits: RateLimits, caller: Caller, bytes: number): Intake {
  return {
    async accept(entries, options) {
      limits.take(caller, entries.length, bytes)
      return intake.accept(entries, options)
    },
    refused: (count) => intake.refused?.(count),
    reserve: (size) => intake.reserve(size),
    get stats() {
      return intake.stats
    },
    close: () => intake.close(),
  }
}

/**
 * The intake one request of `caller` is handed, the same for every transport: within the caller's rate
 * limits, and counted by `meter` (outermost, so a refusal by the limits counts as failed) when metrics are kept.
 */
export function requestIntake(intake: Intake, limits: RateLimits, caller: Caller, bytes: number, meter?: IngestMeter): Intake {
  const limited = limitedIntake(intake, limits, caller, bytes)
  return meter ? meter.intake(limited) : limited
}
