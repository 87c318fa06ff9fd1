import { describe, expect, test } from 'bun:test'
import { deflateSync, gzipSync } from 'node:zlib'
import { decodeContentEncoding, snappyDecode } from '../../../../src/lib/protocols/encoding.ts'

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString()

describe('decodeContentEncoding', () => {
  test('gzip, deflate and identity', async () => {
    expect(text(await decodeContentEncoding(gzipSync('hello'), 'gzip', 1000))).toBe('hello')
    expect(text(await decodeContentEncoding(deflateSync('hello'), 'deflate', 1000))).toBe('hello')
    expect(text(await decodeContentEncoding(Buffer.from('plain'), null, 1000))).toBe('plain')
  })
  test('a body that expands past the limit is refused as too large, not decoded whole', async () => {
    await expect(decodeContentEncoding(gzipSync(Buffer.alloc(10 * 1024 * 1024)), 'gzip', 1024 * 1024)).rejects.toMatchObject({ code: 'REQUEST_TOO_LARGE' })
  })
  test('bad gzip and unknown encodings are invalid payloads', async () => {
    await expect(decodeContentEncoding(Buffer.from('not gzip'), 'gzip', 1000)).rejects.toMatchObject({ code: 'REQUEST_INVALID' })
    await expect(decodeContentEncoding(Buffer.from('x'), 'br', 1000)).rejects.toMatchObject({ code: 'REQUEST_INVALID' })
  })
})

describe('snappyDecode', () => {
  test('literals and back-references (block format)', () => {
    // "abcd" literal, then a 1-byte-offset copy of 8 bytes from offset 4: abcdabcdabcd
    const block = new Uint8Array([12, (4 - 1) << 2, 97, 98, 99, 100, 0b000_100_01, 4])
    expect(text(snappyDecode(block, 100))).toBe('abcdabcdabcd')
  })
  test('a declared length past the limit is refused before allocating', () => {
    expect(() => snappyDecode(new Uint8Array([0xff, 0xff, 0xff, 0x7f]), 1024)).toThrow(expect.objectContaining({ code: 'REQUEST_TOO_LARGE' }))
  })
  test('truncated or corrupt data is an invalid payload', () => {
    expect(() => snappyDecode(new Uint8Array([10, 0]), 100)).toThrow(expect.objectContaining({ code: 'REQUEST_INVALID' }))
    expect(() => snappyDecode(new Uint8Array([4, 0b000_000_01, 9]), 100)).toThrow(expect.objectContaining({ code: 'REQUEST_INVALID' }))
  })
})
