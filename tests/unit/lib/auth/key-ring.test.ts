import { describe, expect, test } from 'bun:test'
import { FailureLimits, KeyRing, OPEN, openAuthenticator } from '../../../../src/lib/auth/key-ring.ts'
import { PermissionDeniedError, RateLimitedError, UnauthenticatedError } from '../../../../src/lib/errors.ts'
import { refusal, testKey } from '../../../support/api-keys.ts'

const key = testKey

describe('KeyRing', () => {
  const writer = key('shipper', 'ingest')
  const reader = key('grafana', 'read')
  const admin = key('ops', 'admin')

  test('a live key of the right scope is its record; admin may do anything', () => {
    const ring = new KeyRing([writer.record, reader.record, admin.record])
    expect(ring.authenticate(writer.key, 'ingest', '10.0.0.1')).toBe(writer.record)
    expect(ring.authenticate(reader.key, 'read', '10.0.0.1')).toBe(reader.record)
    expect(ring.authenticate(admin.key, 'read', '10.0.0.1')).toBe(admin.record)
  })

  test('no key, an unknown one, a wrong secret for a known id: UnauthenticatedError; another scope: PermissionDeniedError', () => {
    const ring = new KeyRing([writer.record, reader.record])
    expect(refusal(() => ring.authenticate(undefined, 'read', 'a'))).toBeInstanceOf(UnauthenticatedError)
    expect(refusal(() => ring.authenticate(key('x', 'read').key, 'read', 'a'))).toBeInstanceOf(UnauthenticatedError)
    expect(refusal(() => ring.authenticate(`${reader.key.slice(0, -2)}zz`, 'read', 'a'))).toBeInstanceOf(UnauthenticatedError)
    const denied = refusal(() => ring.authenticate(writer.key, 'read', 'a'))
    expect(denied).toBeInstanceOf(PermissionDeniedError)
    expect((denied as PermissionDeniedError).details()).toEqual({ scope: 'read' })
  })

  test('a key left out of a reload (revoked) stops working at once', () => {
    const ring = new KeyRing([writer.record, reader.record])
    ring.replace([reader.record])
    expect(refusal(() => ring.authenticate(writer.key, 'ingest', 'a'))).toBeInstanceOf(UnauthenticatedError)
    expect(ring.authenticate(reader.key, 'read', 'a')).toBe(reader.record)
  })

  test('an address refused too often gets 429s until its window ends, even with a good key; other addresses are not affected', () => {
    let now = 1_000_000
    const ring = new KeyRing([reader.record], () => now)
    for (let attempt = 0; attempt < FailureLimits.attempts; attempt++) refusal(() => ring.authenticate(key('guess', 'read').key, 'read', 'attacker'))
    const limited = refusal(() => ring.authenticate(reader.key, 'read', 'attacker'))
    expect(limited).toBeInstanceOf(RateLimitedError)
    expect((limited as RateLimitedError).retryAfterMs).toBe(FailureLimits.windowMs)
    expect(ring.authenticate(reader.key, 'read', 'someone else')).toBe(reader.record)
    now += FailureLimits.windowMs
    expect(ring.authenticate(reader.key, 'read', 'attacker')).toBe(reader.record)
  })

  test('requests without a key are not counted as failures', () => {
    const ring = new KeyRing([reader.record])
    for (let attempt = 0; attempt < FailureLimits.attempts * 2; attempt++) refusal(() => ring.authenticate(undefined, 'read', 'browser'))
    expect(ring.authenticate(reader.key, 'read', 'browser')).toBe(reader.record)
  })
})

describe('openAuthenticator', () => {
  test('everyone is the open caller', () => {
    expect(openAuthenticator.authenticate(undefined, 'ingest', 'a')).toBe(OPEN)
  })
})
