import { describe, expect, test } from 'bun:test'
import { decodeCursor, encodeCursor } from '../../../src/lib/cursor.ts'

const position = { timestamp: '2026-03-10T12:00:00.123456Z', partition: 2, offset: '9223372036854775807' }

describe('cursor', () => {
  test('decodes what it encoded', () => {
    expect(decodeCursor(encodeCursor(position))).toEqual(position)
  })

  test('is URL-safe', () => {
    expect(encodeCursor(position)).toMatch(/^[A-Za-z0-9_-]+$/)
  })

  test.each([
    ['garbage', 'not-a-cursor'],
    ['valid base64 that is not JSON', Buffer.from('hello').toString('base64url')],
    ['another version', Buffer.from(JSON.stringify([2, position.timestamp, 2, '1'])).toString('base64url')],
    ['a bad timestamp', Buffer.from(JSON.stringify([1, 'yesterday', 2, '1'])).toString('base64url')],
    ['a negative partition', Buffer.from(JSON.stringify([1, position.timestamp, -1, '1'])).toString('base64url')],
    ['an offset beyond int64', Buffer.from(JSON.stringify([1, position.timestamp, 0, '9223372036854775808'])).toString('base64url')],
    ['a numeric offset', Buffer.from(JSON.stringify([1, position.timestamp, 0, 5])).toString('base64url')],
    ['padding characters', `${encodeCursor(position)}==`],
  ])('refuses %s', (_what, cursor) => {
    expect(decodeCursor(cursor)).toBeUndefined()
  })
})
