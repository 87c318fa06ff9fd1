import type { Config } from '../../src/lib/config.ts'

/** Small, fast intake settings for tests that build an intake in process (no linger, a 1 MiB budget, 5 s to Kafka). */
export const testIngestSettings: Config['ingest'] = {
  batchMaxCount: 1000,
  batchMaxBytes: 1024 * 1024,
  lingerMs: 0,
  maxPendingBytes: 1024 * 1024,
  maxInFlightBatches: 2,
  sendTimeoutMs: 5000,
  maxFutureSeconds: 600,
}
