import { describe, expect, test } from 'bun:test'
import { Batcher, type BatcherOptions } from '../../../src/lib/batcher.ts'
import { ErrorCodes, LogStreamError } from '../../../src/lib/errors.ts'

/** A send function the test controls: every call is recorded and settles only when the test says so. */
function heldSends() {
  const calls: { values: string[]; resolve(): void; reject(error: unknown): void }[] = []
  const send = (values: string[]) => {
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    calls.push({ values, resolve, reject })
    return promise
  }
  return { calls, send }
}

const defaults: BatcherOptions = { maxCount: 1000, maxBytes: 1_000_000, lingerMs: 60_000, maxPendingBytes: 10_000_000, maxInFlight: 4 }
const items = (...values: string[]) => values.map((value) => ({ value, bytes: value.length }))
const LONG = { timeoutMs: 60_000 }

/** Polls `condition` every few milliseconds; fails after 5 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(5)
  }
}

/** Resolves to 'pending' unless the promise has settled once pending callbacks have run. */
async function state(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  await new Promise((resolve) => setImmediate(resolve))
  return await Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    Promise.resolve().then(() => 'pending' as const),
  ])
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise
    return undefined
  } catch (error) {
    return (error as LogStreamError).code
  }
}

describe('Batcher', () => {
  test('sends a batch as soon as it holds maxCount items', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, maxCount: 3 }, send)
    const pending = batcher.submit(items('a', 'b', 'c', 'd'), LONG)
    expect(calls.map((call) => call.values)).toEqual([['a', 'b', 'c']])
    calls[0]!.resolve()
    const closed = batcher.close()
    expect(calls.map((call) => call.values)).toEqual([['a', 'b', 'c'], ['d']])
    calls[1]!.resolve()
    await closed
    await pending
  })

  test('sends a batch as soon as it holds maxBytes, and never more than maxBytes of small items', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, maxBytes: 10 }, send)
    batcher.submit(items('aaaa', 'bbbb'), LONG).catch(() => {})
    expect(calls).toHaveLength(0)
    batcher.submit(items('cccc'), LONG).catch(() => {})
    expect(calls.map((call) => call.values)).toEqual([['aaaa', 'bbbb']])
  })

  test('sends a lone item once lingerMs has passed', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, lingerMs: 20 }, send)
    const pending = batcher.submit(items('lonely'), LONG)
    expect(calls).toHaveLength(0)
    await until(() => calls.length === 1, 'the linger flush')
    expect(calls[0]!.values).toEqual(['lonely'])
    calls[0]!.resolve()
    await pending
  })

  test('gathers items from concurrent callers into one batch', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, maxCount: 4 }, send)
    const first = batcher.submit(items('a', 'b'), LONG)
    const second = batcher.submit(items('c', 'd'), LONG)
    expect(calls.map((call) => call.values)).toEqual([['a', 'b', 'c', 'd']])
    calls[0]!.resolve()
    await Promise.all([first, second])
  })

  test("a caller's promise resolves only once every batch holding its items is acknowledged", async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, maxCount: 2 }, send)
    const pending = batcher.submit(items('a', 'b', 'c', 'd'), LONG)
    expect(calls).toHaveLength(2)
    calls[0]!.resolve()
    expect(await state(pending)).toBe('pending')
    calls[1]!.resolve()
    expect(await state(pending)).toBe('resolved')
  })

  test('a failed batch rejects every caller with items in it, and only those', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, maxCount: 2 }, send)
    const spanning = batcher.submit(items('a', 'b', 'c'), LONG)
    const later = batcher.submit(items('d', 'e'), LONG)
    const unrelated = batcher.submit(items('f'), LONG)
    expect(calls.map((call) => call.values)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e', 'f'],
    ])
    calls[0]!.resolve()
    calls[1]!.reject(new LogStreamError(ErrorCodes.KAFKA_UNAVAILABLE, 'broker down'))
    calls[2]!.resolve()
    expect(await codeOf(spanning)).toBe(ErrorCodes.KAFKA_UNAVAILABLE)
    expect(await codeOf(later)).toBe(ErrorCodes.KAFKA_UNAVAILABLE)
    expect(await state(unrelated)).toBe('resolved')
  })

  test('past maxPendingBytes a submit fails at once with INGEST_OVERLOADED and holds nothing', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, maxCount: 1, maxPendingBytes: 10 }, send)
    const held = batcher.submit(items('12345678'), LONG)
    expect(await codeOf(batcher.submit(items('abc'), LONG))).toBe(ErrorCodes.INGEST_OVERLOADED)
    expect(batcher.stats.pendingBytes).toBe(8)
    calls[0]!.resolve()
    await held
    expect(batcher.stats.pendingBytes).toBe(0)
    const accepted = batcher.submit(items('abc'), LONG)
    calls[1]!.resolve()
    await accepted
  })

  test('a submission larger than maxPendingBytes is taken when nothing else is pending, so it is not refused forever', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, maxCount: 1, maxPendingBytes: 4 }, send)
    const big = batcher.submit(items('123456'), { timeoutMs: 60_000 })
    await until(() => calls.length === 1, 'the send')
    expect(await codeOf(batcher.submit(items('a'), LONG))).toBe(ErrorCodes.INGEST_OVERLOADED)
    calls[0]!.resolve()
    await big
  })

  test('never has more than maxInFlight sends; items waiting meanwhile go out together', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, maxCount: 100, lingerMs: 0, maxInFlight: 1 }, send)
    const first = batcher.submit(items('a'), LONG)
    const second = batcher.submit(items('b'), LONG)
    const third = batcher.submit(items('c'), LONG)
    expect(calls.map((call) => call.values)).toEqual([['a']])
    calls[0]!.resolve()
    await first
    expect(calls.map((call) => call.values)).toEqual([['a'], ['b', 'c']])
    calls[1]!.resolve()
    await Promise.all([second, third])
  })

  test('a caller that waits past timeoutMs gets KAFKA_UNAVAILABLE and its unsent items are never sent', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher({ ...defaults, maxCount: 1, maxInFlight: 1 }, send)
    const stuck = batcher.submit(items('a'), LONG)
    const impatient = batcher.submit(items('b'), { timeoutMs: 10 })
    expect(await codeOf(impatient)).toBe(ErrorCodes.KAFKA_UNAVAILABLE)
    expect(batcher.stats.queuedItems).toBe(0)
    calls[0]!.resolve()
    await stuck
    await batcher.close()
    expect(calls.map((call) => call.values)).toEqual([['a']])
  })

  test('an aborted caller is rejected at once and its unsent items are dropped', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher(defaults, send)
    const controller = new AbortController()
    const cancelled = batcher.submit(items('a', 'b'), { timeoutMs: 60_000, signal: controller.signal }).then(
      () => 'resolved',
      (error: Error) => error.message,
    )
    controller.abort(new Error('client went away'))
    expect(await cancelled).toBe('client went away')
    expect(batcher.stats).toMatchObject({ queuedItems: 0, pendingBytes: 0 })
    await batcher.close()
    expect(calls).toHaveLength(0)
  })

  test('close sends what is queued without waiting for linger, waits for in-flight sends, then refuses new items', async () => {
    const { calls, send } = heldSends()
    const batcher = new Batcher(defaults, send)
    const pending = batcher.submit(items('a', 'b'), LONG)
    expect(calls).toHaveLength(0)
    const closed = batcher.close()
    expect(calls.map((call) => call.values)).toEqual([['a', 'b']])
    expect(await state(closed)).toBe('pending')
    calls[0]!.resolve()
    await closed
    await pending
    expect(await codeOf(batcher.submit(items('c'), LONG))).toBe(ErrorCodes.INGEST_SHUTTING_DOWN)
  })
})
