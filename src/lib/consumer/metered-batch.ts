import type { ConsumerMetrics } from '../metrics.ts'
import type { BatchParts } from './batch-handler.ts'

type MeteredParts = Pick<BatchParts, 'decode' | 'write' | 'publishDeadLetters'>

/**
 * `parts` with each successful write and dead-letter publish counted in `metrics`, as they happen: a write
 * whose batch later fails to commit still stored its rows (re-delivered, they count as duplicates). Failed
 * attempts count nothing; the batch handler retries them. The batch handler itself is left untouched, so its
 * commit guarantees stay readable in one place.
 */
export function meteredBatch(parts: MeteredParts, metrics: ConsumerMetrics): MeteredParts {
  return {
    decode: parts.decode,
    async write(rows) {
      const result = await parts.write(rows)
      metrics.written(rows.length, result.inserted, result.rejected.length)
      return result
    },
    async publishDeadLetters(letters) {
      await parts.publishDeadLetters(letters)
      metrics.deadLettered(letters)
    },
  }
}
