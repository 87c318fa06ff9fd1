import { describe, expect, test } from 'bun:test'
import type { Announcement } from '../../../../src/lib/tail/announcement.ts'
import { AnnouncementQueue } from '../../../../src/lib/tail/announcement-queue.ts'

/** An announcement of `rows` consecutive offsets of partition 0 from `first`. */
const announcing = (first: number, rows: number): Announcement => ({
  spans: [[first, first + rows - 1]],
  runs: [{ partition: 0, first: BigInt(first), last: BigInt(first + rows - 1) }],
})

const limits = { rowsPerRound: 100, pendingRows: 250 }

describe('AnnouncementQueue', () => {
  test('a round takes the announcements at the head, in order, up to rowsPerRound rows', async () => {
    const queue = new AnnouncementQueue(limits)
    const [a, b, c] = [announcing(0, 40), announcing(40, 60), announcing(100, 10)]
    for (const announcement of [a, b, c]) queue.add(announcement)
    expect(await queue.next()).toEqual({ kind: 'round', announcements: [a, b] })
    expect(await queue.next()).toEqual({ kind: 'round', announcements: [c] })
    expect(queue.length).toBe(0)
  })

  test('an announcement larger than a round is read alone rather than never', async () => {
    const queue = new AnnouncementQueue(limits)
    const big = announcing(0, 150)
    queue.add(big)
    queue.add(announcing(150, 1))
    expect(await queue.next()).toEqual({ kind: 'round', announcements: [big] })
  })

  test('a gap is a turn of its own, where it happened among the announcements', async () => {
    const queue = new AnnouncementQueue(limits)
    const [a, b] = [announcing(0, 1), announcing(1, 1)]
    queue.add(a)
    queue.gap('listen_interrupted')
    queue.add(b)
    expect(await queue.next()).toEqual({ kind: 'round', announcements: [a] })
    expect(await queue.next()).toEqual({ kind: 'gap', reason: 'listen_interrupted' })
    expect(await queue.next()).toEqual({ kind: 'round', announcements: [b] })
  })

  test('past pendingRows the backlog is replaced by a fell_behind gap; gaps already queued stay', async () => {
    const queue = new AnnouncementQueue(limits)
    queue.gap('read_failed')
    expect(queue.add(announcing(0, 200))).toBe(true)
    expect(queue.add(announcing(200, 100))).toBe(false)
    expect(queue.length).toBe(2)
    expect(await queue.next()).toEqual({ kind: 'gap', reason: 'read_failed' })
    expect(await queue.next()).toEqual({ kind: 'gap', reason: 'fell_behind' })
    // The rows dropped no longer count: the limit applies afresh.
    const after = announcing(300, 250)
    expect(queue.add(after)).toBe(true)
    expect(await queue.next()).toEqual({ kind: 'round', announcements: [after] })
  })

  test('rows read are no longer counted against pendingRows', async () => {
    const queue = new AnnouncementQueue(limits)
    queue.add(announcing(0, 100))
    queue.add(announcing(100, 100))
    await queue.next()
    expect(queue.add(announcing(200, 150))).toBe(true)
  })

  test('next() waits for something to arrive', async () => {
    const queue = new AnnouncementQueue(limits)
    const waiting = queue.next()
    const a = announcing(0, 1)
    queue.add(a)
    expect(await waiting).toEqual({ kind: 'round', announcements: [a] })
  })

  test('close() ends a waiting next() and every later one, and nothing more is queued', async () => {
    const queue = new AnnouncementQueue(limits)
    const waiting = queue.next()
    queue.close()
    expect(await waiting).toBeUndefined()
    queue.add(announcing(0, 1))
    expect(queue.length).toBe(0)
    expect(await queue.next()).toBeUndefined()
  })

  test('clear() forgets everything waiting', async () => {
    const queue = new AnnouncementQueue(limits)
    queue.add(announcing(0, 1))
    queue.gap('fell_behind')
    queue.clear()
    expect(queue.length).toBe(0)
    const a = announcing(5, 1)
    queue.add(a)
    expect(await queue.next()).toEqual({ kind: 'round', announcements: [a] })
  })

  test('behindMs is the age of the announcement at the head, 0 when a gap or nothing is there', () => {
    const queue = new AnnouncementQueue(limits)
    expect(queue.behindMs()).toBe(0)
    const before = Date.now()
    queue.add(announcing(0, 1))
    expect(queue.behindMs(before + 60_000)).toBeGreaterThanOrEqual(59_000)
    const gapFirst = new AnnouncementQueue(limits)
    gapFirst.gap('fell_behind')
    gapFirst.add(announcing(0, 1))
    expect(gapFirst.behindMs(before + 60_000)).toBe(0)
  })
})
