import { describe, expect, test } from 'bun:test'
import { type LogEntry, TailRing } from '../../../../src/lib/tail/tail-ring.ts'

const log = (id: string, bytes = 100): Omit<LogEntry, 'seq'> => ({ kind: 'log', id, frame: `id: ${id}\ndata: {}\n\n`, bytes })

describe('TailRing: recent frames, bounded in bytes', () => {
  test('entries are numbered from 1 in the order appended, and found by log id', () => {
    const ring = new TailRing(1000)
    expect([ring.firstSeq, ring.lastSeq]).toEqual([1, 0])
    ring.append(log('0-1'))
    ring.gap('listen_interrupted')
    ring.append(log('0-2'))
    expect([ring.firstSeq, ring.lastSeq, ring.size]).toEqual([1, 3, 3])
    expect(ring.seqOf('0-2')).toBe(3)
    expect(ring.slice(2, 10).map((entry) => entry.kind)).toEqual(['gap', 'log'])
  })

  test('the oldest entries go once the bytes held pass the bound; their ids are forgotten', () => {
    const ring = new TailRing(350)
    for (let i = 1; i <= 10; i++) ring.append(log(`0-${i}`))
    expect(ring.heldBytes).toBeLessThanOrEqual(350)
    expect([ring.firstSeq, ring.lastSeq, ring.size]).toEqual([8, 10, 3])
    expect(ring.seqOf('0-7')).toBeUndefined()
    expect(ring.seqOf('0-8')).toBe(8)
    expect(ring.slice(1, 100).map((entry) => entry.seq)).toEqual([8, 9, 10])
  })

  test('one entry larger than the bound is still held (the newest always is)', () => {
    const ring = new TailRing(100)
    ring.append(log('0-1', 50))
    ring.append(log('0-2', 500))
    expect(ring.size).toBe(1)
    expect(ring.seqOf('0-2')).toBe(2)
  })

  test('clear() forgets everything but keeps counting, so no position is reused', () => {
    const ring = new TailRing(1000)
    ring.append(log('0-1'))
    ring.clear()
    expect([ring.size, ring.heldBytes, ring.seqOf('0-1'), ring.firstSeq, ring.lastSeq]).toEqual([0, 0, undefined, 2, 1])
    expect(ring.append(log('0-2')).seq).toBe(2)
  })

  test('stays correct across many evictions (compaction)', () => {
    const ring = new TailRing(10_000)
    for (let i = 1; i <= 5000; i++) ring.append(log(`1-${i}`))
    expect(ring.size).toBe(100)
    expect(ring.slice(ring.firstSeq, 2).map((entry) => (entry as LogEntry).id)).toEqual(['1-4901', '1-4902'])
    expect(ring.seqOf('1-4950')).toBe(4950)
  })
})
