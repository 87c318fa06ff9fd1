import { describe, expect, test } from 'bun:test'
import { afterAnswer, askReason, withKey } from '../../../../../src/lib/explorer/page/read-key.ts'

describe('read key decisions in the explorer', () => {
  test('answers other than 401/403 are kept whatever the key', () => {
    for (const status of [200, 400, 404, 429, 503]) expect(afterAnswer(status, 'k', 'k')).toBe('done')
  })

  test('a 401 or 403 to the key held (or to no key, none held) asks for one', () => {
    expect(afterAnswer(401, undefined, undefined)).toBe('ask')
    expect(afterAnswer(401, 'old', 'old')).toBe('ask')
    expect(afterAnswer(403, 'ingest', 'ingest')).toBe('ask')
  })

  test("a refusal of a key another request's dialog has since replaced is sent again with the new key, no second dialog", () => {
    expect(afterAnswer(401, undefined, 'new')).toBe('retry')
    expect(afterAnswer(401, 'old', 'new')).toBe('retry')
    expect(afterAnswer(403, 'old', 'new')).toBe('retry')
  })

  test('the dialog says why it asks', () => {
    expect(askReason(401, undefined)).toContain('needs an API key with read scope')
    expect(askReason(401, 'revoked')).toContain('unknown or has been revoked')
    expect(askReason(403, 'ingest')).toContain('cannot read logs')
  })

  test('the key goes in Authorization: Bearer, and nothing is added without one', () => {
    expect(withKey({ accept: 'application/json' }, 'lsk_x')).toEqual({ accept: 'application/json', authorization: 'Bearer lsk_x' })
    expect(withKey({ accept: 'application/json' }, undefined)).toEqual({ accept: 'application/json' })
  })
})
