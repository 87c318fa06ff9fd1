import { describe, expect, test } from 'bun:test'
import { ByteBudget } from '../../../src/lib/intake-budget.ts'

describe('ByteBudget', () => {
  test('reserves while the total stays within the limit, and refuses what would exceed it', () => {
    const budget = new ByteBudget(100)
    const a = budget.tryReserve(60)
    expect(a?.bytes).toBe(60)
    expect(budget.tryReserve(41)).toBeUndefined()
    const b = budget.tryReserve(40)
    expect(b?.bytes).toBe(40)
    expect(budget.used).toBe(100)
  })

  test('one reservation larger than the limit is taken when nothing else is held, and only then', () => {
    const budget = new ByteBudget(100)
    const big = budget.tryReserve(500)
    expect(big?.bytes).toBe(500)
    expect(budget.tryReserve(1)).toBeUndefined()
    big!.release()
    const small = budget.tryReserve(1)
    expect(small).toBeDefined()
    expect(budget.tryReserve(500)).toBeUndefined()
  })

  test('a reservation shrinks at any time and grows only into free room', () => {
    const budget = new ByteBudget(100)
    const a = budget.tryReserve(50)!
    const b = budget.tryReserve(30)!
    expect(a.resize(10)).toBe(true)
    expect(budget.used).toBe(40)
    expect(a.resize(70)).toBe(true)
    expect(a.resize(71)).toBe(false)
    expect(a.bytes).toBe(70)
    b.release()
    expect(a.resize(100)).toBe(true)
    expect(budget.used).toBe(100)
  })

  test('release gives the room back once, however often it is called; a released reservation holds nothing', () => {
    const budget = new ByteBudget(100)
    const a = budget.tryReserve(60)!
    const b = budget.tryReserve(40)!
    a.release()
    a.release()
    expect(budget.used).toBe(40)
    expect(a.bytes).toBe(0)
    expect(a.resize(10)).toBe(false)
    expect(budget.used).toBe(40)
    b.release()
    expect(budget.used).toBe(0)
  })
})

describe('ByteBudget.reserve', () => {
  const overloaded = () => new Error('no room')

  test('waits for room and is granted in arrival order as room comes back', async () => {
    const budget = new ByteBudget(100)
    const first = budget.tryReserve(100)!
    const granted: number[] = []
    const a = budget.reserve(50, 5000, overloaded).then((r) => {
      granted.push(1)
      return r
    })
    const b = budget.reserve(50, 5000, overloaded).then((r) => {
      granted.push(2)
      return r
    })
    // A later small request does not overtake the queue.
    expect(budget.tryReserve(1)).toBeUndefined()
    first.resize(50)
    await a
    expect(granted).toEqual([1])
    first.release()
    await b
    expect(granted).toEqual([1, 2])
    expect(budget.used).toBe(100)
  })

  test('throws the given error when no room came within the wait, and leaves the queue', async () => {
    const budget = new ByteBudget(100)
    const first = budget.tryReserve(100)!
    await expect(budget.reserve(10, 5, overloaded)).rejects.toThrow('no room')
    first.release()
    expect(budget.tryReserve(100)).toBeDefined()
  })
})
