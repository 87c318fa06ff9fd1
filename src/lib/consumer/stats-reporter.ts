import type { Logger } from '../log.ts'
import type { LogConsumer } from './consumer.ts'

export interface StatsReporter {
  stop(): void
}

/**
 * Logs one `consume.stats` line every `intervalMs`: rates since the last line, totals, what is held, the
 * offsets this process committed, and the lag (messages not yet committed on this member's partitions;
 * absent while not in the group).
 */
export function startStatsReporter(consumer: Pick<LogConsumer, 'stats' | 'lag'>, log: Logger, intervalMs: number): StatsReporter {
  let last = { at: performance.now(), rows: 0, messages: 0 }
  const timer = setInterval(async () => {
    const now = performance.now()
    const stats = consumer.stats()
    const seconds = (now - last.at) / 1000
    const rows = stats.rowsInserted - last.rows
    const messages = stats.messagesHandled - last.messages
    last = { at: now, rows: stats.rowsInserted, messages: stats.messagesHandled }
    log.info('consume.stats', {
      state: stats.state,
      rowsPerSecond: Math.round(rows / seconds),
      messagesPerSecond: Math.round(messages / seconds),
      rows,
      lag: await consumer.lag(),
      totalRows: stats.rowsInserted,
      deadLetters: stats.deadLetters,
      batches: stats.batches,
      inHand: stats.messagesInHand,
      bytesInHand: stats.bytesInHand,
      // Next offset per "topic:partition" this process committed: which partitions it has worked on.
      committed: Object.fromEntries(stats.committed),
    })
  }, intervalMs)
  return { stop: () => clearInterval(timer) }
}
