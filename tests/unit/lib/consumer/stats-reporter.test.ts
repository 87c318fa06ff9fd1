import { describe, expect, test } from 'bun:test'
import { ConsumerStates, initialStats } from '../../../../src/lib/consumer/stats.ts'
import { startStatsReporter } from '../../../../src/lib/consumer/stats-reporter.ts'
import { createLogger } from '../../../../src/lib/log.ts'

describe('startStatsReporter', () => {
  test('logs consume.stats lines with totals, what is held, the committed offsets and the lag', async () => {
    const lines: Record<string, unknown>[] = []
    const log = createLogger({}, { write: (line) => lines.push(JSON.parse(line)) })
    const stats = {
      ...initialStats(),
      state: ConsumerStates.running,
      rowsInserted: 120,
      messagesHandled: 121,
      deadLetters: 1,
      batches: 3,
      messagesInHand: 7,
      bytesInHand: 7000,
      committed: new Map([['logs.raw:1', 42n]]),
    }
    const reporter = startStatsReporter({ stats: () => stats, lag: async () => 5 }, log, 20)
    while (lines.length === 0) await Bun.sleep(5)
    reporter.stop()
    expect(lines[0]).toMatchObject({
      event: 'consume.stats',
      state: 'running',
      rows: 120,
      totalRows: 120,
      deadLetters: 1,
      batches: 3,
      inHand: 7,
      bytesInHand: 7000,
      lag: 5,
      committed: { 'logs.raw:1': '42' },
    })
  })

  test('leaves the lag out while the consumer is not in the group', async () => {
    const lines: Record<string, unknown>[] = []
    const log = createLogger({}, { write: (line) => lines.push(JSON.parse(line)) })
    const reporter = startStatsReporter({ stats: initialStats, lag: async () => undefined }, log, 20)
    while (lines.length === 0) await Bun.sleep(5)
    reporter.stop()
    expect(lines[0]).not.toHaveProperty('lag')
    expect(lines[0]).toMatchObject({ event: 'consume.stats', state: 'starting', totalRows: 0 })
  })
})
