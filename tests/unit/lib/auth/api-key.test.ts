import { describe, expect, test } from 'bun:test'
import { allows, generateKey, hashKey, keyId, keyMatches } from '../../../../src/lib/auth/api-key.ts'

describe('generateKey', () => {
  test('lsk_ + a 12-character id + _ + 43 characters of base64url, different every time', () => {
    const { key, id, hash } = generateKey()
    expect(key).toMatch(/^lsk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/)
    expect(keyId(key)).toBe(id)
    expect(hash).toEqual(hashKey(key))
    expect(generateKey().key).not.toBe(key)
  })
})

describe('keyMatches', () => {
  test('true for the key that was hashed only', () => {
    const { key, hash } = generateKey()
    expect(keyMatches(key, hash)).toBe(true)
    expect(keyMatches(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`, hash)).toBe(false)
    expect(keyMatches('', hash)).toBe(false)
  })
})

describe('keyId', () => {
  test('undefined for anything not shaped like a key', () => {
    for (const value of ['', 'lsk_', 'Bearer x', `lsk_ABCDEFGHIJKL_${'a'.repeat(43)}`, `lsk_abcdefghijkl_${'a'.repeat(42)}`])
      expect(keyId(value)).toBeUndefined()
  })
})

describe('allows', () => {
  test('a key does what its scope names; admin does everything', () => {
    expect(allows('ingest', 'ingest')).toBe(true)
    expect(allows('ingest', 'read')).toBe(false)
    expect(allows('read', 'ingest')).toBe(false)
    expect(allows('read', 'admin')).toBe(false)
    expect(allows('admin', 'ingest')).toBe(true)
    expect(allows('admin', 'read')).toBe(true)
  })
})
