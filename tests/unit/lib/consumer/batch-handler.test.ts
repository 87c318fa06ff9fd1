import { describe, expect, test } from 'bun:test'
import type { BatchParts } from '../../../../src/lib/consumer/batch-handler.ts'
import { type BatchHandlerOptions, createBatchHandler, WaitingFor } from '../../../../src/lib/consumer/batch-handler.ts'
import { BatchAbandonedError, RequestInvalidError } from '../../../../src/lib/errors.ts'
import type { PendingRow, WriteResult } from '../../../../src/lib/log-writer.ts'
import { databaseDown, deferred, fakeParts, fastBackoff, message, offsetsOf, silentLog } from './fakes.ts'

function handlerFor(parts: BatchParts, overrides: Partial<BatchHandlerOptions> = {}) {
  const stopping = new AbortController()
  const abandon = new AbortController()
  const handler = createBatchHandler(parts, { backoff: fastBackoff, stopping: stopping.signal, abandon: abandon.signal, log: silentLog, ...overrides })
  return { handler, stopping, abandon }
}

describe('createBatchHandler: commit order', () => {
  test('a later batch that is stored first waits for the earlier batch to commit, then commits after it', async () => {
    const writes = [deferred<WriteResult<PendingRow>>(), deferred<WriteResult<PendingRow>>()]
    let call = 0
    const { parts, commits } = fakeParts({ write: () => writes[call++]!.promise })
    const { handler } = handlerFor(parts)

    const first = handler.handle([message(0, 0), message(0, 1)])
    const second = handler.handle([message(0, 2), message(1, 0)])
    await Bun.sleep(0)
    writes[1]!.resolve({ inserted: 2, rejected: [] })
    await Bun.sleep(5)
    expect(commits).toEqual([])

    writes[0]!.resolve({ inserted: 2, rejected: [] })
    await Promise.all([first, second])
    expect(offsetsOf(commits)).toEqual([
      [[0, 2]],
      [
        [0, 3],
        [1, 1],
      ],
    ])
  })

  test('when an earlier batch fails, a later one that was stored commits nothing', async () => {
    const failure = new RequestInvalidError('a bug, not retryable')
    const first = deferred<WriteResult<PendingRow>>()
    let call = 0
    const { parts, commits, written } = fakeParts({
      write: (rows) => (call++ === 0 ? first.promise : Promise.resolve({ inserted: rows.length, rejected: [] })),
    })
    const { handler } = handlerFor(parts)

    const one = handler.handle([message(0, 0)])
    const two = handler.handle([message(0, 1)])
    await Bun.sleep(0)
    first.reject(failure)
    await expect(one).rejects.toBe(failure)
    await expect(two).rejects.toBe(failure)
    expect(written).toHaveLength(2)
    expect(commits).toEqual([])
  })
})

describe('createBatchHandler: rebalances', () => {
  test('stores every row but commits only the partitions still assigned at commit time', async () => {
    const { parts, commits, written } = fakeParts({ assigned: [0] })
    const { handler } = handlerFor(parts)
    const result = await handler.handle([message(0, 10), message(1, 20), message(0, 11)])
    expect(written[0]!.map((row) => [row.partition, Number(row.offset)])).toEqual([
      [0, 10],
      [1, 20],
      [0, 11],
    ])
    expect(offsetsOf(commits)).toEqual([[[0, 12]]])
    expect(result.committed.map(({ partition }) => partition)).toEqual([0])
  })

  test('commits nothing when none of the batch is ours any more', async () => {
    const { parts, commits } = fakeParts({ assigned: [2] })
    const { handler } = handlerFor(parts)
    await handler.handle([message(0, 1), message(1, 1)])
    expect(commits).toEqual([])
  })
})

describe('createBatchHandler: dead letters', () => {
  test('an undecodable message is dead-lettered with its code and the batch is committed past it', async () => {
    const { parts, commits, written, published } = fakeParts()
    const { handler } = handlerFor(parts)
    const result = await handler.handle([message(0, 0), message(0, 1, 'bad bytes'), message(0, 2)])
    expect(written[0]!.map((row) => Number(row.offset))).toEqual([0, 2])
    expect(published).toHaveLength(1)
    expect(published[0]!.map(({ offset, code, reason }) => ({ offset: Number(offset), code, reason }))).toEqual([
      { offset: 1, code: 'MESSAGE_UNDECODABLE', reason: 'not a protobuf LogEntry: bad bytes' },
    ])
    expect(Buffer.from(published[0]![0]!.value!).toString()).toBe('bad bytes')
    expect(offsetsOf(commits)).toEqual([[[0, 3]]])
    expect(result).toMatchObject({ inserted: 2, handled: 3, deadLetters: 1 })
  })

  test('a row the writer rejects is dead-lettered with the SQLSTATE; its neighbours count as stored', async () => {
    const refused = Object.assign(new Error('invalid input syntax for type json'), { code: '22P02' })
    const { parts, published, commits } = fakeParts({
      write: async (rows) => ({ inserted: rows.length - 1, rejected: rows.filter((row) => row.offset === 1n).map((row) => ({ row, error: refused })) }),
    })
    const { handler } = handlerFor(parts)
    const result = await handler.handle([message(2, 0), message(2, 1), message(2, 2)])
    expect(published.flat().map(({ partition, offset, code }) => ({ partition, offset: Number(offset), code }))).toEqual([
      { partition: 2, offset: 1, code: '22P02' },
    ])
    expect(offsetsOf(commits)).toEqual([[[2, 3]]])
    expect(result).toMatchObject({ inserted: 2, deadLetters: 1 })
  })

  test('nothing is committed until Kafka holds the dead letters', async () => {
    const publish = deferred()
    const { parts, commits } = fakeParts()
    parts.publishDeadLetters = () => publish.promise
    const { handler } = handlerFor(parts)
    const done = handler.handle([message(0, 0, 'bad')])
    await Bun.sleep(5)
    expect(commits).toEqual([])
    publish.resolve()
    await done
    expect(offsetsOf(commits)).toEqual([[[0, 1]]])
  })
})

describe('createBatchHandler: duplicates', () => {
  test('a message delivered twice in one batch is written and counted once', async () => {
    const { parts, written } = fakeParts()
    const { handler } = handlerFor(parts)
    const result = await handler.handle([message(0, 5), message(0, 6), message(0, 5)])
    expect(written[0]!.map((row) => Number(row.offset))).toEqual([5, 6])
    expect(result.handled).toBe(2)
  })

  test('a partition re-sent from an earlier offset midway (after a rebalance) is stored once and committed after its highest offset', async () => {
    const { parts, written, commits } = fakeParts({ assigned: [0, 1] })
    const { handler } = handlerFor(parts)
    const resent = { ...message(0, 3), leaderEpoch: 1 }
    const result = await handler.handle([
      message(0, 2),
      message(1, 7),
      message(0, 3),
      message(0, 4),
      message(0, 2),
      resent,
      message(0, 1),
      message(0, 5),
      message(1, 7),
    ])
    expect(written[0]!.map((row) => [row.partition, Number(row.offset)])).toEqual([
      [0, 2],
      [1, 7],
      [0, 3],
      [0, 4],
      [0, 1],
      [0, 5],
    ])
    expect(result.handled).toBe(6)
    expect(commits[0]!.map(({ partition, offset, leaderEpoch }) => [partition, Number(offset), leaderEpoch])).toEqual([
      [0, 6, 0],
      [1, 8, 0],
    ])
  })

  test('the same partition number of two topics is two partitions', async () => {
    const { parts, written, commits } = fakeParts({ assigned: [0] })
    const { handler } = handlerFor(parts)
    parts.assigned = () => new Set(['a:0', 'b:0'])
    await handler.handle([
      { ...message(0, 1), topic: 'a' },
      { ...message(0, 1), topic: 'b' },
      { ...message(0, 2), topic: 'a' },
    ])
    expect(written[0]!).toHaveLength(3)
    expect(commits[0]!.map(({ topic, offset }) => [topic, Number(offset)])).toEqual([
      ['a', 3],
      ['b', 2],
    ])
  })

  test('the committed leader epoch is that of the highest offset', async () => {
    const { parts, commits } = fakeParts({ assigned: [0] })
    const { handler } = handlerFor(parts)
    await handler.handle([
      { ...message(0, 8), leaderEpoch: 4 },
      { ...message(0, 9), leaderEpoch: 5 },
      { ...message(0, 3), leaderEpoch: 6 },
    ])
    expect(commits[0]!.map(({ offset, leaderEpoch }) => [Number(offset), leaderEpoch])).toEqual([[10, 5]])
  })
})

describe('createBatchHandler: database outages and shutdown', () => {
  test('retries a write while the database is unavailable, reports waiting, and commits once it succeeds', async () => {
    let failures = 3
    const { parts, commits } = fakeParts({ write: async (rows) => (failures-- > 0 ? databaseDown() : { inserted: rows.length, rejected: [] }) })
    const waiting: (string | undefined)[] = []
    const { handler } = handlerFor(parts, { onWaiting: (what) => waiting.push(what) })
    await handler.handle([message(0, 0)])
    expect(waiting).toEqual([WaitingFor.database, WaitingFor.database, WaitingFor.database, undefined])
    expect(offsetsOf(commits)).toEqual([[[0, 1]]])
  })

  test('stopping while the database is down abandons the batch promptly and commits nothing', async () => {
    const { parts, commits, written } = fakeParts({ write: databaseDown })
    const { handler, stopping } = handlerFor(parts, { backoff: { minMs: 10_000, maxMs: 10_000 } })
    const batch = handler.handle([message(0, 0), message(1, 0)])
    await Bun.sleep(5)
    expect(written).toHaveLength(1)
    const began = performance.now()
    stopping.abort()
    await expect(batch).rejects.toBeInstanceOf(BatchAbandonedError)
    expect(performance.now() - began).toBeLessThan(1000)
    expect(commits).toEqual([])
  })

  test('a batch handed in after stopping is still written and committed when the database answers', async () => {
    const { parts, commits } = fakeParts()
    const { handler, stopping } = handlerFor(parts)
    stopping.abort()
    await handler.handle([message(0, 0)])
    expect(offsetsOf(commits)).toEqual([[[0, 1]]])
  })

  test('abandoning stops waiting for a write that never answers, and nothing is committed even if it answers later', async () => {
    const write = deferred<WriteResult<PendingRow>>()
    const { parts, commits } = fakeParts({ write: () => write.promise })
    const { handler, stopping, abandon } = handlerFor(parts)
    const batch = handler.handle([message(0, 0)])
    stopping.abort()
    abandon.abort()
    await expect(batch).rejects.toBeInstanceOf(BatchAbandonedError)
    write.resolve({ inserted: 1, rejected: [] })
    await Bun.sleep(5)
    expect(commits).toEqual([])
  })
})
