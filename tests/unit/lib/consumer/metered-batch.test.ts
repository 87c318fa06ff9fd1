import { describe, expect, test } from 'bun:test'
import { createBatchHandler } from '../../../../src/lib/consumer/batch-handler.ts'
import { meteredBatch } from '../../../../src/lib/consumer/metered-batch.ts'
import type { PendingRow, WriteResult } from '../../../../src/lib/log-writer.ts'
import { ConsumerMetrics, createRegistry } from '../../../../src/lib/metrics.ts'
import { databaseDown, fakeParts, fastBackoff, message, silentLog } from './fakes.ts'

/** A batch handler over fake parts, metered; `write` can fail or refuse rows. */
function metered(write?: (rows: PendingRow[]) => Promise<WriteResult<PendingRow>>) {
  const registry = createRegistry()
  const fake = fakeParts({ write })
  const parts = { ...fake.parts, ...meteredBatch(fake.parts, new ConsumerMetrics(registry, async () => undefined)) }
  const handler = createBatchHandler(parts, {
    backoff: fastBackoff,
    stopping: new AbortController().signal,
    abandon: new AbortController().signal,
    log: silentLog,
  })
  const value = async (series: string) => {
    const line = (await registry.metrics()).split('\n').find((item) => item.startsWith(`${series} `))
    return line === undefined ? undefined : Number(line.split(' ')[1])
  }
  return { handler, value, fake }
}

describe('meteredBatch', () => {
  test('counts rows as the writer stored them: inserted, and duplicates already stored', async () => {
    // The second row was stored before (a re-delivery): the writer inserts one of two.
    const { handler, value } = metered(async (rows) => ({ inserted: rows.length - 1, rejected: [] }))
    await handler.handle([message(0, 0), message(0, 1)])
    expect(await value('logstream_consumer_rows_total{result="inserted"}')).toBe(1)
    expect(await value('logstream_consumer_rows_total{result="duplicate"}')).toBe(1)
  })

  test('counts dead letters once Kafka holds them, by reason; a refused row is neither inserted nor duplicate', async () => {
    const refusal = Object.assign(new Error('new row violates check constraint'), { code: '23514' })
    const { handler, value, fake } = metered(async (rows) => ({ inserted: rows.length - 1, rejected: [{ row: rows[0]!, error: refusal }] }))
    await handler.handle([message(0, 0), message(0, 1, 'bad value'), message(0, 2)])
    expect(fake.published.flat().map((letter) => letter.code)).toEqual(['MESSAGE_UNDECODABLE', '23514'])
    expect(await value('logstream_dead_letters_total{reason="undecodable"}')).toBe(1)
    expect(await value('logstream_dead_letters_total{reason="database_refused"}')).toBe(1)
    expect(await value('logstream_consumer_rows_total{result="inserted"}')).toBe(1)
    expect(await value('logstream_consumer_rows_total{result="duplicate"}')).toBe(0)
  })

  test('a failed write attempt counts nothing; the retry that succeeds counts once', async () => {
    let attempts = 0
    const { handler, value } = metered(async (rows) => (++attempts === 1 ? databaseDown() : { inserted: rows.length, rejected: [] }))
    await handler.handle([message(1, 0), message(1, 1)])
    expect(attempts).toBe(2)
    expect(await value('logstream_consumer_rows_total{result="inserted"}')).toBe(2)
  })
})
