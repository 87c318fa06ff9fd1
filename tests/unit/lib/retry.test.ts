import { describe, expect, test } from 'bun:test'
import { KafkaUnavailableError, RequestInvalidError } from '../../../src/lib/errors.ts'
import { backoffMs, retry, sleep } from '../../../src/lib/retry.ts'

const fast = { minMs: 1, maxMs: 4 }

describe('backoffMs', () => {
  test('grows from minMs by doubling and never passes maxMs', () => {
    for (let i = 0; i < 200; i++) {
      expect(backoffMs(0, { minMs: 100, maxMs: 5000 })).toBe(100)
      const third = backoffMs(2, { minMs: 100, maxMs: 5000 })
      expect(third).toBeGreaterThanOrEqual(200)
      expect(third).toBeLessThanOrEqual(400)
      expect(backoffMs(40, { minMs: 100, maxMs: 5000 })).toBeLessThanOrEqual(5000)
      expect(backoffMs(40, { minMs: 100, maxMs: 5000 })).toBeGreaterThanOrEqual(2500)
    }
  })
})

describe('retry', () => {
  test('tries a retryable failure again until it succeeds, reporting each retry', async () => {
    const seen: number[] = []
    let calls = 0
    const result = await retry(
      async () => {
        calls++
        if (calls < 3) throw new KafkaUnavailableError('down')
        return 'ok'
      },
      { ...fast, onRetry: (_error, attempt) => seen.push(attempt) },
    )
    expect(result).toBe('ok')
    expect(calls).toBe(3)
    expect(seen).toEqual([1, 2])
  })

  test('throws a failure that is not retryable at once', async () => {
    let calls = 0
    const failure = new RequestInvalidError('bad')
    await expect(
      retry(async () => {
        calls++
        throw failure
      }, fast),
    ).rejects.toBe(failure)
    expect(calls).toBe(1)
  })

  test('gives up after the given number of attempts with the last failure', async () => {
    let calls = 0
    await expect(
      retry(
        async () => {
          calls++
          throw new KafkaUnavailableError(`down ${calls}`)
        },
        { ...fast, attempts: 4 },
      ),
    ).rejects.toThrow('down 4')
    expect(calls).toBe(4)
  })

  test('a custom predicate decides what is retryable', async () => {
    let calls = 0
    const result = await retry(
      async () => {
        if (++calls < 2) throw new Error('plain')
        return calls
      },
      { ...fast, retryable: () => true },
    )
    expect(result).toBe(2)
  })

  test('stops waiting and throws the last failure once the signal aborts', async () => {
    const controller = new AbortController()
    let calls = 0
    const running = retry(
      async () => {
        calls++
        throw new KafkaUnavailableError('down')
      },
      { minMs: 60_000, maxMs: 60_000, signal: controller.signal },
    )
    controller.abort()
    await expect(running).rejects.toThrow('down')
    expect(calls).toBe(1)
  })
})

describe('sleep', () => {
  test('resolves early when its signal aborts', async () => {
    const controller = new AbortController()
    const began = performance.now()
    const waiting = sleep(60_000, controller.signal)
    controller.abort()
    await waiting
    expect(performance.now() - began).toBeLessThan(30_000)
  })
})
