import { describe, expect, test } from 'bun:test'
import { withTimeout } from '../../../src/lib/timeout.ts'

describe('withTimeout', () => {
  test('settles as the promise does when it is in time', async () => {
    expect(await withTimeout(Promise.resolve(7), 1000, () => new Error('late'))).toBe(7)
    await expect(withTimeout(Promise.reject(new Error('own')), 1000, () => new Error('late'))).rejects.toThrow('own')
  })

  test('rejects with the given error when the promise takes longer', async () => {
    const never = new Promise<never>(() => {})
    await expect(withTimeout(never, 5, () => new Error('no answer within 5 ms'))).rejects.toThrow('no answer within 5 ms')
  })

  test('a promise that loses the race and fails later does not surface as unhandled', async () => {
    let failLater!: (error: Error) => void
    const slow = new Promise<never>((_, reject) => (failLater = reject))
    await expect(withTimeout(slow, 1, () => new Error('late'))).rejects.toThrow('late')
    failLater(new Error('after the race'))
    await Bun.sleep(0)
  })
})
