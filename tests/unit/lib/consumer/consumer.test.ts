import { describe, expect, test } from 'bun:test'
import { type ConsumerParts, type ConsumerSettings, runConsumer } from '../../../../src/lib/consumer/consumer.ts'
import type { KafkaSession } from '../../../../src/lib/consumer/kafka-session.ts'
import { type PartitionOffset, partitionKey } from '../../../../src/lib/consumer/message.ts'
import { ConsumerStates } from '../../../../src/lib/consumer/stats.ts'
import type { PendingRow, WriteResult } from '../../../../src/lib/log-writer.ts'
import { databaseDown, decode, deferred, FakeStream, message, silentLog, TOPIC } from './fakes.ts'

const settings: ConsumerSettings = {
  batchMaxRows: 2,
  batchMaxBytes: 1024 * 1024,
  lingerMs: 5,
  maxInFlightBatches: 2,
  retryMinMs: 5,
  retryMaxMs: 20,
  shutdownGraceMs: 300,
}

interface FakeSession extends KafkaSession {
  stream: FakeStream
  commits: PartitionOffset[][]
  closed: boolean
}

function fakeSession(): FakeSession {
  const session: FakeSession = {
    stream: new FakeStream(),
    memberId: 'member-1',
    commits: [],
    closed: false,
    commit: async (offsets) => {
      session.commits.push(offsets)
    },
    assigned: () => new Set([0, 1, 2].map((partition) => partitionKey(TOPIC, partition))),
    lag: async () => new Map([[0, 0]]),
    close: async () => {
      session.closed = true
    },
  }
  return session
}

/** Parts whose sessions are handed out in order; `write` defaults to storing every row. */
function fakeConsumerParts(write: (rows: PendingRow[]) => Promise<WriteResult<PendingRow>> = async (rows) => ({ inserted: rows.length, rejected: [] })) {
  const sessions: FakeSession[] = []
  let closed = false
  const parts: ConsumerParts = {
    openSession: async () => {
      const session = fakeSession()
      sessions.push(session)
      return session
    },
    batch: { decode, write: write as ConsumerParts['batch']['write'], publishDeadLetters: async () => {} },
    close: async () => {
      closed = true
    },
  }
  /** The n-th session, once the consumer reads from it. */
  const session = (n: number) => waitFor(() => (sessions[n] && sessions[n].stream.listenerCount('data') > 0 ? sessions[n] : undefined))
  return { parts, sessions, session, isClosed: () => closed }
}

async function waitFor<T>(check: () => T | undefined, timeoutMs = 2000): Promise<T> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined && value !== false) return value
    if (performance.now() > deadline) throw new Error('condition not met in time')
    await Bun.sleep(2)
  }
}

describe('runConsumer', () => {
  test('writes and commits what the session delivers, and reports it in stats', async () => {
    const { parts, session } = fakeConsumerParts()
    const consumer = runConsumer(parts, settings, silentLog)
    const first = await session(0)
    first.stream.push(message(0, 0), message(0, 1), message(1, 0))
    await waitFor(() => consumer.stats().committed.get(partitionKey(TOPIC, 1)) === 1n)
    expect(consumer.stats()).toMatchObject({ state: ConsumerStates.running, rowsInserted: 3, messagesHandled: 3, batches: 2, messagesInHand: 0 })
    await consumer.stop()
    expect(consumer.stats().state).toBe(ConsumerStates.stopped)
  })

  test("afterBatch hears of each committed batch with its seconds; the lag is the session's, per partition and summed", async () => {
    const { parts, session } = fakeConsumerParts()
    const seconds: number[] = []
    const consumer = runConsumer({ ...parts, afterBatch: (batch) => seconds.push(batch) }, settings, silentLog)
    expect(await consumer.partitionLags()).toBeUndefined()
    const first = await session(0)
    first.lag = async () =>
      new Map([
        [0, 3],
        [2, 4],
      ])
    first.stream.push(message(0, 0), message(0, 1), message(1, 0))
    await waitFor(() => seconds.length === 2)
    for (const value of seconds) expect(value).toBeGreaterThanOrEqual(0)
    expect(await consumer.partitionLags()).toEqual(
      new Map([
        [0, 3],
        [2, 4],
      ]),
    )
    expect(await consumer.lag()).toBe(7)
    await consumer.stop()
    expect(await consumer.lag()).toBeUndefined()
  })

  test('after a stream error it closes the session, joins again after a backoff, and goes on from there', async () => {
    const { parts, session } = fakeConsumerParts()
    const consumer = runConsumer(parts, settings, silentLog)
    const first = await session(0)
    first.stream.emit('error', new Error('broker connection lost'))
    await waitFor(() => first.closed)
    const second = await session(1)
    second.stream.push(message(2, 40), message(2, 41))
    await waitFor(() => second.commits.length === 1)
    expect(second.commits[0]!.map(({ partition, offset }) => [partition, offset])).toEqual([[2, 42n]])
    expect(first.commits).toEqual([])
    await consumer.stop()
    expect(second.closed).toBe(true)
  })

  test('stop() writes and commits the batch in hand, closes the session and then the write side', async () => {
    const { parts, session, isClosed } = fakeConsumerParts()
    const consumer = runConsumer(parts, { ...settings, batchMaxRows: 100, lingerMs: 60_000 }, silentLog)
    const first = await session(0)
    first.stream.push(message(0, 0), message(0, 1), message(0, 2))
    expect(consumer.stats().messagesInHand).toBe(3)
    await consumer.stop()
    expect(first.commits.map((offsets) => offsets.map(({ offset }) => offset))).toEqual([[3n]])
    expect(first.closed).toBe(true)
    expect(isClosed()).toBe(true)
  })

  test('stop() with the database down ends promptly and commits nothing', async () => {
    const { parts, session, isClosed } = fakeConsumerParts(databaseDown)
    const consumer = runConsumer(parts, { ...settings, retryMinMs: 10_000, retryMaxMs: 10_000, shutdownGraceMs: 60_000 }, silentLog)
    const first = await session(0)
    first.stream.push(message(0, 0), message(0, 1))
    await waitFor(() => consumer.stats().state === ConsumerStates.waitingForDatabase)
    const began = performance.now()
    await consumer.stop()
    expect(performance.now() - began).toBeLessThan(1000)
    expect(first.commits).toEqual([])
    expect(isClosed()).toBe(true)
  })

  test('stop() does not wait past the shutdown grace for a write that never answers', async () => {
    const never = deferred<WriteResult<PendingRow>>()
    const { parts, session } = fakeConsumerParts(() => never.promise)
    const consumer = runConsumer(parts, { ...settings, shutdownGraceMs: 200 }, silentLog)
    const first = await session(0)
    first.stream.push(message(0, 0), message(0, 1))
    await waitFor(() => consumer.stats().batches === 0 && consumer.stats().messagesInHand === 2)
    const began = performance.now()
    await consumer.stop()
    const took = performance.now() - began
    expect(took).toBeGreaterThanOrEqual(150)
    expect(took).toBeLessThan(2000)
    never.resolve({ inserted: 2, rejected: [] })
    await Bun.sleep(5)
    expect(first.commits).toEqual([])
  })

  test('stop() while joining the group (the broker is down) does not wait for the join', async () => {
    const join = deferred<KafkaSession>()
    let closedLate = false
    const parts: ConsumerParts = { ...fakeConsumerParts().parts, openSession: () => join.promise }
    const consumer = runConsumer(parts, settings, silentLog)
    const began = performance.now()
    await consumer.stop()
    expect(performance.now() - began).toBeLessThan(1000)
    join.resolve({
      ...fakeSession(),
      close: async () => {
        closedLate = true
      },
    })
    await waitFor(() => closedLate)
  })
})
