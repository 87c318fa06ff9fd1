import { describe, expect, test } from 'bun:test'
import { generateKey, type KeyRecord } from '../../../../src/lib/auth/api-key.ts'
import { OPEN } from '../../../../src/lib/auth/key-ring.ts'
import { RateLimitSettings, RateLimits } from '../../../../src/lib/auth/rate-limits.ts'
import { RateLimitedError } from '../../../../src/lib/errors.ts'

const MiB = 1024 * 1024

function record(name: string, limits: Pick<KeyRecord, 'entriesPerSecond' | 'bytesPerSecond'> = {}): KeyRecord {
  const { id, hash } = generateKey()
  return { id, name, scope: 'ingest', hash, ...limits }
}

/** A clock the test moves by hand. */
function clock() {
  let ms = 1_000_000
  return {
    now: () => ms,
    advance: (by: number) => {
      ms += by
    },
  }
}

const refusal = (run: () => unknown): RateLimitedError => {
  try {
    run()
  } catch (error) {
    if (error instanceof RateLimitedError) return error
    throw error
  }
  throw new Error('expected a RateLimitedError')
}

describe('RateLimits', () => {
  test('a key may send one second of its entries at once, then waits exactly as long as the refill takes', () => {
    const time = clock()
    const limits = new RateLimits({ entriesPerSecond: 100, bytesPerSecond: 10 * MiB }, time.now)
    const key = record('shipper')
    limits.take(key, 60, 1000)
    limits.take(key, 40, 1000)
    const refused = refusal(() => limits.take(key, 10, 1000))
    expect(refused.retryAfterMs).toBe(100)
    expect(refused.httpStatus).toBe(429)
    expect(refused.message).toContain('"shipper"')
    expect(refused.message).toContain('100 logs per second')
    time.advance(99)
    expect(refusal(() => limits.take(key, 10, 1000)).retryAfterMs).toBe(1)
    time.advance(1)
    limits.take(key, 10, 1000)
  })

  test('a refused request takes nothing', () => {
    const time = clock()
    const limits = new RateLimits({ entriesPerSecond: 10, bytesPerSecond: 10 * MiB }, time.now)
    const key = record('k')
    limits.take(key, 5, 0)
    for (let i = 0; i < 5; i++) refusal(() => limits.take(key, 6, 0))
    limits.take(key, 5, 0)
  })

  test('bytes: the burst is at least one maximum-size entry, so a lone 1 MiB log passes a 1 KiB/s key', () => {
    const time = clock()
    const limits = new RateLimits({ entriesPerSecond: 1000, bytesPerSecond: 1024 }, time.now)
    const key = record('small')
    limits.take(key, 1, RateLimitSettings.minBurstBytes)
    const refused = refusal(() => limits.take(key, 1, 1024))
    expect(refused.message).toContain('1024 bytes per second')
    expect(refused.retryAfterMs).toBe(1000)
  })

  test('a request larger than the burst passes once the buckets are full and leaves them in debt, so the rate holds over time', () => {
    const time = clock()
    const limits = new RateLimits({ entriesPerSecond: 10, bytesPerSecond: 10 * MiB }, time.now)
    const key = record('k')
    limits.take(key, 50, 0)
    // 50 taken from 10: 40 in debt, then 10 more needed to be full again: 5 s.
    expect(refusal(() => limits.take(key, 1, 0)).retryAfterMs).toBe(4100)
    expect(refusal(() => limits.take(key, 50, 0)).retryAfterMs).toBe(5000)
    time.advance(5000)
    limits.take(key, 50, 0)
  })

  test("a key's own limits win over the defaults; the wait is the longer of both buckets", () => {
    const time = clock()
    const limits = new RateLimits({ entriesPerSecond: 1, bytesPerSecond: 1024 }, time.now)
    const key = record('own', { entriesPerSecond: 1000, bytesPerSecond: 4 * MiB })
    limits.take(key, 1000, 4 * MiB)
    const refused = refusal(() => limits.take(key, 500, 2 * MiB))
    expect(refused.retryAfterMs).toBe(500)
    time.advance(250)
    expect(refusal(() => limits.take(key, 250, 2 * MiB)).retryAfterMs).toBe(250)
  })

  test('keys are limited separately; the open caller is never limited', () => {
    const time = clock()
    const limits = new RateLimits({ entriesPerSecond: 1, bytesPerSecond: 1024 }, time.now)
    const a = record('a')
    const b = record('b')
    limits.take(a, 1, 10)
    refusal(() => limits.take(a, 1, 10))
    limits.take(b, 1, 10)
    for (let i = 0; i < 100; i++) limits.take(OPEN, 1_000_000, 100 * MiB)
    expect(limits.size).toBe(2)
  })

  test('memory stays bounded: past maxKeys the least recently used key is forgotten (it starts full again)', () => {
    const time = clock()
    const limits = new RateLimits({ entriesPerSecond: 1, bytesPerSecond: 1024 }, time.now, 3)
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => record(name))
    limits.take(a!, 1, 0)
    limits.take(b!, 1, 0)
    limits.take(c!, 1, 0)
    // a used again (refused, but seen): b is now the least recently used.
    refusal(() => limits.take(a!, 1, 0))
    limits.take(d!, 1, 0)
    expect(limits.size).toBe(3)
    refusal(() => limits.take(a!, 1, 0))
    limits.take(b!, 1, 0)
  })
})
