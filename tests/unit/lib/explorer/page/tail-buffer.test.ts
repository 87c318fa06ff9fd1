import { describe, expect, test } from 'bun:test'
import { TailBuffer } from '../../../../../src/lib/explorer/page/tail-buffer.ts'

const log = (id: number) => ({ id: `0-${id}` })
const ids = (rows: { id: string }[]) => rows.map((row) => row.id)

describe('the live tail buffer', () => {
  test('new logs go on top while the reader is at the top', () => {
    const buffer = new TailBuffer(10)
    buffer.seed([log(2), log(1)])
    expect(ids(buffer.push(log(3)).added)).toEqual(['0-3'])
    buffer.push(log(4))
    expect(ids(buffer.rows)).toEqual(['0-4', '0-3', '0-2', '0-1'])
  })

  test('a log already shown (in the page the tail started from, or sent again after a reconnect) is shown once', () => {
    const buffer = new TailBuffer(10)
    buffer.seed([log(2), log(1)])
    expect(buffer.push(log(2)).added).toEqual([])
    buffer.push(log(3))
    expect(buffer.push(log(3)).added).toEqual([])
    expect(buffer.rows).toHaveLength(3)
  })

  test('paused (scrolled away): new logs wait and are counted; back at the top they go on top, newest first', () => {
    const buffer = new TailBuffer(10)
    buffer.seed([log(1)])
    buffer.pause()
    buffer.push(log(2))
    buffer.push(log(3))
    expect(ids(buffer.rows)).toEqual(['0-1'])
    expect(buffer.newCount).toBe(2)
    expect(ids(buffer.resume().added)).toEqual(['0-3', '0-2'])
    expect(ids(buffer.rows)).toEqual(['0-3', '0-2', '0-1'])
    expect(buffer.newCount).toBe(0)
  })

  test('at most max rows: the oldest go, and the list is marked trimmed', () => {
    const buffer = new TailBuffer(3)
    buffer.seed([log(2), log(1)])
    buffer.push(log(3))
    expect(buffer.trimmed).toBe(false)
    expect(ids(buffer.push(log(4)).removed)).toEqual(['0-1'])
    expect(ids(buffer.rows)).toEqual(['0-4', '0-3', '0-2'])
    expect(buffer.trimmed).toBe(true)
    // A trimmed log may come back (it is no longer shown).
    expect(buffer.push(log(1)).added).toHaveLength(1)
  })

  test('while paused, at most max logs wait; the rest still count in "N new"', () => {
    const buffer = new TailBuffer(3)
    buffer.seed([])
    buffer.pause()
    for (let i = 1; i <= 5; i++) buffer.push(log(i))
    expect(buffer.pending).toHaveLength(3)
    expect(buffer.newCount).toBe(5)
    expect(ids(buffer.resume().added)).toEqual(['0-5', '0-4', '0-3'])
  })

  test('dropped counts add up; nonsense is ignored', () => {
    const buffer = new TailBuffer(3)
    buffer.noteDropped(4)
    buffer.noteDropped(3)
    buffer.noteDropped(Number.NaN)
    buffer.noteDropped(-1)
    expect(buffer.dropped).toBe(7)
  })

  test('load older appends below, skipping what is shown; unbounded outside the tail', () => {
    const buffer = new TailBuffer(2)
    buffer.seed([log(3), log(2)])
    expect(ids(buffer.append([log(2), log(1)]))).toEqual(['0-1'])
    expect(buffer.rows).toHaveLength(3)
  })
})
