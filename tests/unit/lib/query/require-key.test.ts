import { describe, expect, test } from 'bun:test'
import { generateKey, type KeyRecord } from '../../../../src/lib/auth/api-key.ts'
import { peerOf } from '../../../../src/lib/auth/credentials.ts'
import { KeyRing, OPEN, openAuthenticator } from '../../../../src/lib/auth/key-ring.ts'
import { PermissionDeniedError, QueryInvalidError, RateLimitedError, TailLimitError, UnauthenticatedError } from '../../../../src/lib/errors.ts'
import { checkReadKey, endWhenRevoked, isAuthRefusal, isOpenPath, refusalHeaders, stillReads, WWW_AUTHENTICATE } from '../../../../src/lib/query/require-key.ts'

const made = (scope: KeyRecord['scope']) => {
  const { key, id, hash } = generateKey()
  return { key, record: { id, name: scope, scope, hash } satisfies KeyRecord }
}
const read = made('read')
const ingest = made('ingest')
const ring = new KeyRing([read.record, ingest.record])
const request = (path: string, authorization?: string) => new Request(`http://localhost${path}`, { headers: authorization ? { authorization } : {} })

describe('which query-API paths need a read key', () => {
  test('open: /health, the page and its assets, the OpenAPI docs', () => {
    for (const path of ['/health', '/', '/explorer/app.abc.js', '/openapi', '/openapi/json', '/openapi/assets/swagger-ui.css'])
      expect(isOpenPath(path)).toBe(true)
  })

  test('everything else, unknown paths included, needs one', () => {
    for (const path of [
      '/query',
      '/query/abc',
      '/query/1-2/context',
      '/histogram',
      '/facets',
      '/export',
      '/tail',
      '/metrics',
      '/nope',
      '/healthz',
      '/openapix',
      '/explorer',
    ])
      expect(isOpenPath(path)).toBe(false)
  })
})

describe('checkReadKey', () => {
  test('an open path is answered without asking the authenticator', () => {
    expect(checkReadKey(ring, request('/health'), 'p')).toBeUndefined()
  })

  test('no key: 401; an ingest key: 403; a read key (Bearer or Basic): its record', () => {
    expect(() => checkReadKey(ring, request('/query'), 'p1')).toThrow(UnauthenticatedError)
    expect(() => checkReadKey(ring, request('/query', `Bearer ${ingest.key}`), 'p1')).toThrow(PermissionDeniedError)
    expect(checkReadKey(ring, request('/tail', `Bearer ${read.key}`), 'p1')).toBe(read.record)
    expect(checkReadKey(ring, request('/export', `Basic ${btoa(`anyone:${read.key}`)}`), 'p1')).toBe(read.record)
  })

  test('keys off (openAuthenticator): everyone is the open caller', () => {
    expect(checkReadKey(openAuthenticator, request('/query'), 'p')).toBe(OPEN)
  })
})

describe('refusals', () => {
  test('a 401 carries the Bearer challenge; a throttled 429 Retry-After in whole seconds, at least 1', () => {
    expect(refusalHeaders(new UnauthenticatedError())).toEqual({ 'www-authenticate': WWW_AUTHENTICATE })
    expect(WWW_AUTHENTICATE).toBe('Bearer realm="logstream"')
    expect(refusalHeaders(new RateLimitedError('slow down', 1500))).toEqual({ 'retry-after': '2' })
    expect(refusalHeaders(new RateLimitedError('slow down', 0))).toEqual({ 'retry-after': '1' })
    expect(refusalHeaders(new PermissionDeniedError('read'))).toEqual({})
    expect(refusalHeaders(new QueryInvalidError('q', 'bad'))).toEqual({})
  })

  test('only the key refusals count as refusals (not the tail limit, another 429)', () => {
    expect(isAuthRefusal(new UnauthenticatedError())).toBe(true)
    expect(isAuthRefusal(new PermissionDeniedError('read'))).toBe(true)
    expect(isAuthRefusal(new RateLimitedError('slow', 1))).toBe(true)
    expect(isAuthRefusal(new TailLimitError(3))).toBe(false)
  })

  test("the throttle counts the socket's address; without a server (app.handle) one shared 'unknown'", () => {
    const server = { requestIP: () => ({ address: '10.0.0.9' }) }
    expect(peerOf(request('/query', undefined), server)).toBe('10.0.0.9')
    expect(peerOf(request('/query'), null)).toBe('unknown')
  })
})

describe('an open stream whose key is revoked', () => {
  test('stillReads: a live read key yes; revoked or ingest no; a throttled address alone does not end a stream', () => {
    const own = made('read')
    const keyring = new KeyRing([own.record, ingest.record])
    expect(stillReads(keyring, own.key, 'a')).toBe(true)
    expect(stillReads(keyring, ingest.key, 'a')).toBe(false)
    keyring.replace([ingest.record])
    expect(stillReads(keyring, own.key, 'a')).toBe(false)
    const throttled = {
      authenticate: () => {
        throw new RateLimitedError('slow', 1000)
      },
    }
    expect(stillReads(throttled, own.key, 'a')).toBe(true)
  })

  test('endWhenRevoked passes frames while allowed, asks at most every everyMs, and ends (cancelling the source) once refused', async () => {
    let clock = 0
    let allowed = true
    let asked = 0
    let cancelled = false
    let sent = 0
    const source = new ReadableStream<string>({
      pull(controller) {
        controller.enqueue(`frame ${++sent}`)
      },
      cancel() {
        cancelled = true
      },
    })
    const reader = endWhenRevoked(
      source,
      () => {
        asked++
        return allowed
      },
      100,
      () => clock,
    ).getReader()
    expect((await reader.read()).value).toBe('frame 1')
    clock = 50
    expect((await reader.read()).value).toBe('frame 2')
    expect(asked).toBe(0)
    clock = 100
    expect((await reader.read()).value).toBe('frame 3')
    expect(asked).toBe(1)
    allowed = false
    clock = 150
    expect((await reader.read()).done).toBe(false)
    clock = 200
    expect((await reader.read()).done).toBe(true)
    expect(asked).toBe(2)
    expect(cancelled).toBe(true)
  })

  test("a client leaving cancels the source (the tail frees the client's place)", async () => {
    let cancelled = false
    const source = new ReadableStream<string>({
      pull: (controller) => controller.enqueue('x'),
      cancel: () => {
        cancelled = true
      },
    })
    const reader = endWhenRevoked(source, () => true, 100).getReader()
    await reader.read()
    await reader.cancel()
    expect(cancelled).toBe(true)
  })
})
