import { describe, expect, test } from 'bun:test'
import { keyFromAuthorization } from '../../../../src/lib/auth/credentials.ts'

const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString('base64')}`

describe('keyFromAuthorization', () => {
  test('Bearer and ApiKey carry the key itself; the scheme is case-insensitive', () => {
    expect(keyFromAuthorization('Bearer lsk_x')).toBe('lsk_x')
    expect(keyFromAuthorization('bearer lsk_x')).toBe('lsk_x')
    expect(keyFromAuthorization('ApiKey lsk_x')).toBe('lsk_x')
  })

  test('ApiKey may also carry base64(id:KEY), as Filebeat sends api_key: "id:KEY"', () => {
    expect(keyFromAuthorization(`ApiKey ${Buffer.from('logstream:lsk_x').toString('base64')}`)).toBe('lsk_x')
  })

  test('Basic carries it as the password, whatever the user', () => {
    expect(keyFromAuthorization(basic('promtail:lsk_x'))).toBe('lsk_x')
    expect(keyFromAuthorization(basic(':lsk_x'))).toBe('lsk_x')
    expect(keyFromAuthorization(basic('user:pass:with:colons'))).toBe('pass:with:colons')
  })

  test('no header, another scheme, or a Basic header without a password: no key', () => {
    for (const header of [undefined, null, '', 'Bearer', 'Digest abc', basic('user'), basic('user:'), 'Bearer a b'])
      expect(keyFromAuthorization(header)).toBeUndefined()
  })
})
