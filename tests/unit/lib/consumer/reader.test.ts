import { describe, expect, test } from 'bun:test'
import type { ConsumedMessage } from '../../../../src/lib/consumer/message.ts'
import { messageBytes } from '../../../../src/lib/consumer/message.ts'
import { type Held, type ReaderOptions, readBatches } from '../../../../src/lib/consumer/reader.ts'
import { BatchAbandonedError } from '../../../../src/lib/errors.ts'
import { deferred, FakeStream, message } from './fakes.ts'

const KB = 1000

/** Runs a reader over a fake stream; batches are held until `release()` (or settle at once if `autoRelease`). */
function startReader(overrides: Partial<ReaderOptions> = {}, autoRelease = false) {
  const stream = new FakeStream()
  const stopping = new AbortController()
  const abandon = new AbortController()
  const batches: ConsumedMessage[][] = []
  const pending: ReturnType<typeof deferred<void>>[] = []
  const held: Held = { messages: 0, bytes: 0 }
  let maxHeldBytes = 0
  const options: ReaderOptions = {
    batchMaxRows: 1000,
    batchMaxBytes: 10 * KB,
    lingerMs: 60_000,
    maxInFlightBatches: 2,
    stopping: stopping.signal,
    abandon: abandon.signal,
    ...overrides,
  }
  stream.on('data', () => {
    maxHeldBytes = Math.max(maxHeldBytes, held.bytes)
  })
  const done = readBatches(
    stream,
    (messages) => {
      batches.push(messages)
      const settled = deferred()
      pending.push(settled)
      if (autoRelease) settled.resolve()
      return settled.promise
    },
    options,
    held,
  )
  done.catch(() => {})
  const release = () => pending.shift()!.resolve()
  return { stream, stopping, abandon, batches, pending, held, done, release, maxHeldBytes: () => Math.max(maxHeldBytes, held.bytes) }
}

const sizes = (batches: ConsumedMessage[][]) => batches.map((batch) => batch.map(messageBytes))

describe('readBatches: bounded in bytes', () => {
  test('closes a batch before the message that would take it past batchMaxBytes', async () => {
    const reader = startReader({ batchMaxBytes: 10 * KB }, true)
    reader.stream.push(...Array.from({ length: 7 }, (_, i) => message(0, i, 'v', 4 * KB)))
    await Bun.sleep(0)
    expect(sizes(reader.batches)).toEqual([
      [4 * KB, 4 * KB],
      [4 * KB, 4 * KB],
      [4 * KB, 4 * KB],
    ])
    reader.stopping.abort()
    await reader.done
    expect(sizes(reader.batches).at(-1)).toEqual([4 * KB])
  })

  test('a single message larger than batchMaxBytes is a batch of its own', async () => {
    const reader = startReader({ batchMaxBytes: 10 * KB }, true)
    reader.stream.push(message(0, 0, 'v', 3 * KB), message(0, 1, 'v', 25 * KB), message(0, 2, 'v', 3 * KB))
    reader.stopping.abort()
    await reader.done
    expect(sizes(reader.batches)).toEqual([[3 * KB], [25 * KB], [3 * KB]])
  })

  test('pauses the stream while every slot is busy and the filling batch is full, so held bytes stay bounded', async () => {
    const maxBytes = 10 * KB
    const reader = startReader({ batchMaxBytes: maxBytes, maxInFlightBatches: 2 })
    // Far more than fits: a 900 kB-log flood in miniature.
    reader.stream.push(...Array.from({ length: 100 }, (_, i) => message(i % 3, i, 'v', 4 * KB)))
    await Bun.sleep(0)
    expect(reader.batches).toHaveLength(2)
    expect(reader.stream.paused).toBe(true)
    expect(reader.stream.waiting).toBeGreaterThan(80)
    expect(reader.held.bytes).toBeLessThanOrEqual(3 * maxBytes)

    reader.release()
    await Bun.sleep(0)
    expect(reader.batches).toHaveLength(3)
    expect(reader.stream.resumes).toBeGreaterThan(0)
    expect(reader.stream.paused).toBe(true)

    while (reader.pending.length > 0) {
      reader.release()
      await Bun.sleep(0)
    }
    reader.stopping.abort()
    while (reader.pending.length > 0) reader.release()
    await reader.done
    expect(reader.maxHeldBytes()).toBeLessThanOrEqual(3 * maxBytes + 4 * KB)
    expect(reader.batches.flat().map((m) => Number(m.offset))).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  test('bounded in rows as well: batchMaxRows small messages make a batch', async () => {
    const reader = startReader({ batchMaxRows: 3 }, true)
    reader.stream.push(...Array.from({ length: 7 }, (_, i) => message(0, i)))
    await Bun.sleep(0)
    expect(reader.batches.map((batch) => batch.length)).toEqual([3, 3])
  })
})

describe('readBatches: linger, stop, failures', () => {
  test('hands on a batch that is not full lingerMs after its first message', async () => {
    const reader = startReader({ lingerMs: 20 }, true)
    reader.stream.push(message(0, 0), message(0, 1))
    await Bun.sleep(0)
    expect(reader.batches).toHaveLength(0)
    await Bun.sleep(60)
    expect(reader.batches.map((batch) => batch.length)).toEqual([2])
  })

  test('stop hands on the batch in hand, takes nothing more, and resolves once every batch has settled', async () => {
    const reader = startReader()
    reader.stream.push(message(0, 0), message(0, 1))
    reader.stopping.abort()
    await Bun.sleep(0)
    expect(reader.batches.map((batch) => batch.length)).toEqual([2])
    expect(reader.stream.paused).toBe(true)
    reader.stream.emit('data', message(0, 2))
    let resolved = false
    void reader.done.then(() => (resolved = true))
    await Bun.sleep(5)
    expect(resolved).toBe(false)
    reader.release()
    await reader.done
    expect(reader.batches.flat()).toHaveLength(2)
    expect(reader.held).toEqual({ messages: 0, bytes: 0 })
  })

  test('a stream error rejects, but only after the batches in flight have settled; batches not handed on are dropped', async () => {
    const reader = startReader({ batchMaxRows: 2, maxInFlightBatches: 1 })
    reader.stream.push(message(0, 0), message(0, 1), message(0, 2), message(0, 3), message(0, 4))
    await Bun.sleep(0)
    const failure = new Error('fetch failed')
    reader.stream.emit('error', failure)
    let rejected = false
    reader.done.catch(() => (rejected = true))
    await Bun.sleep(5)
    expect(rejected).toBe(false)
    reader.release()
    await expect(reader.done).rejects.toBe(failure)
    expect(reader.batches).toHaveLength(1)
    expect(reader.held).toEqual({ messages: 0, bytes: 0 })
  })

  test('a batch failure rejects with that failure', async () => {
    const reader = startReader({ batchMaxRows: 1 })
    reader.stream.push(message(0, 0))
    await Bun.sleep(0)
    const failure = new Error('commit failed')
    reader.pending[0]!.reject(failure)
    await expect(reader.done).rejects.toBe(failure)
  })

  test('abandoning rejects at once without waiting for batches in flight', async () => {
    const reader = startReader({ batchMaxRows: 1 })
    reader.stream.push(message(0, 0))
    await Bun.sleep(0)
    reader.stopping.abort()
    reader.abandon.abort()
    await expect(reader.done).rejects.toBeInstanceOf(BatchAbandonedError)
  })

  test('resolves when the stream closes, after handing on what it holds', async () => {
    const reader = startReader({}, true)
    reader.stream.push(message(1, 7))
    reader.stream.emit('close')
    await reader.done
    expect(reader.batches.map((batch) => batch.map((m) => Number(m.offset)))).toEqual([[7]])
  })
})
