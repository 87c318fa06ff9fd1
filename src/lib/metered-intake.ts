import { type Intake, NoValidLogsError } from './intake.ts'
import type { IngestMetrics, IngestProtocol } from './metrics.ts'

/**
 * What one ingest request of `protocol` adds to the metrics. Made when the request arrives, so
 * logstream_ingest_ack_seconds runs from then; `intake` wraps the intake the protocol is handed, outermost
 * (around the rate limits), so that every entry of an accept that throws — overload, rate limit, Kafka
 * down, shutdown — counts as failed; accepted and rejected are counted as the intake answered, and entries
 * a parser refused before accept arrive through `refused` (protocols/outcome.ts).
 */
export interface IngestMeter {
  intake(inner: Intake): Intake
  /** Called once the request was answered; an OK answer with accepted entries is timed. */
  answered(ok: boolean): void
}

export function ingestMeter(metrics: IngestMetrics, protocol: IngestProtocol, now: () => number = () => performance.now()): IngestMeter {
  const began = now()
  let accepted = 0
  return {
    intake: (inner) => ({
      async accept(entries, options) {
        try {
          const response = await inner.accept(entries, options)
          accepted += response.accepted
          metrics.count(protocol, 'accepted', response.accepted)
          metrics.count(protocol, 'rejected', response.rejected)
          return response
        } catch (error) {
          metrics.count(protocol, error instanceof NoValidLogsError ? 'rejected' : 'failed', entries.length)
          throw error
        }
      },
      refused: (count) => metrics.count(protocol, 'rejected', count),
      reserve: (size) => inner.reserve(size),
      get stats() {
        return inner.stats
      },
      close: () => inner.close(),
    }),
    answered(ok) {
      if (ok && accepted > 0) metrics.ack(protocol, (now() - began) / 1000)
    },
  }
}
