import { describe, expect, test } from 'bun:test'
import { generateKey, type KeyRecord, type Scope } from '../../../../src/lib/auth/api-key.ts'
import { KeyRing } from '../../../../src/lib/auth/key-ring.ts'
import { RateLimits } from '../../../../src/lib/auth/rate-limits.ts'
import { AUTH_CHALLENGES, createHttpIntakeHandler } from '../../../../src/lib/http-intake/server.ts'
import { createIntake } from '../../../../src/lib/intake.ts'
import { createLogger } from '../../../../src/lib/log.ts'
import { testIngestSettings } from '../../../support/intake-settings.ts'

/**
 * API keys and rate limits on the HTTP intake, for every protocol, over the real intake with a producer that
 * acknowledges at once: 401 with the challenges (before the body is read), 403 for another scope, 429 with
 * Retry-After from the key's own wait, each in the protocol's own error body; and the key never in an answer.
 */

const lines: string[] = []
const log = createLogger({ service: 'http-auth-test' }, { level: 'debug', write: (line) => lines.push(line) })
const ingest = testIngestSettings
const sent: unknown[] = []
const intake = createIntake({ ingest, retentionDays: 7 }, { producer: { send: async (messages) => void sent.push(...messages), close: async () => {} }, log })

function key(name: string, scope: Scope, limits: Partial<KeyRecord> = {}) {
  const { key, id, hash } = generateKey()
  return { key, record: { id, name, scope, hash, ...limits } as KeyRecord }
}
const writer = key('writer', 'ingest')
const reader = key('reader', 'read')
const slow = key('slow', 'ingest', { entriesPerSecond: 1 })
let clock = 0
const limits = new RateLimits({ entriesPerSecond: 1000, bytesPerSecond: 1024 * 1024 }, () => clock)
const handle = createHttpIntakeHandler(intake, log, {
  maxBodyBytes: 64 * 1024,
  sendTimeoutMs: 5000,
  authenticator: new KeyRing([writer.record, reader.record, slow.record]),
  limits,
})
const peer = { requestIP: () => ({ address: '10.1.2.3' }) }

const now = Date.now()
const protocols = {
  otlp: {
    path: '/v1/logs',
    type: 'application/json',
    body: JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: `${now}000000`, body: { stringValue: 'x' } }] }] }] }),
  },
  loki: {
    path: '/loki/api/v1/push',
    type: 'application/json',
    body: JSON.stringify({ streams: [{ stream: { service_name: 's' }, values: [[`${now}000000`, 'x']] }] }),
  },
  elasticsearch: {
    path: '/_bulk',
    type: 'application/x-ndjson',
    body: `${JSON.stringify({ create: { _index: 'logs' } })}\n${JSON.stringify({ message: 'x' })}\n`,
  },
  'json lines': { path: '/jsonlines', type: 'application/x-ndjson', body: `${JSON.stringify({ message: 'x', service: 's' })}\n` },
} as const

const request = (path: string, init: { method?: string; body?: string; type?: string; authorization?: string } = {}) =>
  handle(
    new Request(`http://127.0.0.1${path}`, {
      method: init.method ?? 'POST',
      body: init.body,
      headers: { 'content-type': init.type ?? 'application/json', ...(init.authorization ? { authorization: init.authorization } : {}) },
    }),
    peer,
  )
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/** What each protocol's failure body says, as text: enough to see it is that protocol's shape. */
async function failureText(name: keyof typeof protocols, response: Response): Promise<string> {
  const text = await response.text()
  if (name === 'loki') expect(response.headers.get('content-type')).toStartWith('text/plain')
  else if (name === 'elasticsearch') expect(JSON.parse(text)).toMatchObject({ error: { type: expect.any(String) }, status: response.status })
  else if (name === 'otlp') expect(JSON.parse(text)).toMatchObject({ code: expect.any(Number), message: expect.any(String) })
  else expect(JSON.parse(text)).toMatchObject({ error: expect.any(String), message: expect.any(String) })
  return text
}

describe.each(Object.keys(protocols) as (keyof typeof protocols)[])('%s', (name) => {
  const { path, type, body } = protocols[name]

  test('no key: 401 with the Basic and Bearer challenges, in the protocol’s own body', async () => {
    const response = await request(path, { body, type })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe(AUTH_CHALLENGES.join(', '))
    expect(await failureText(name, response)).toContain('API key is required')
  })

  test('a wrong key: 401 that never repeats it; a read key: 403', async () => {
    const wrong = `${writer.key.slice(0, -4)}AAAA`
    const unknown = await request(path, { body, type, authorization: `Bearer ${wrong}` })
    expect(unknown.status).toBe(401)
    expect(await failureText(name, unknown)).not.toContain(wrong)
    const forbidden = await request(path, { body, type, authorization: `Bearer ${reader.key}` })
    expect(forbidden.status).toBe(403)
    expect(forbidden.headers.get('www-authenticate')).toBeNull()
    expect(await failureText(name, forbidden)).toContain('scope ingest')
  })

  test('Bearer, Basic (any user) and ApiKey all carry the key', async () => {
    for (const authorization of [`Bearer ${writer.key}`, basic('shipper', writer.key), `ApiKey ${writer.key}`]) {
      const response = await request(path, { body, type, authorization })
      expect({ authorization: authorization.split(' ')[0], status: response.status }).toEqual({
        authorization: authorization.split(' ')[0]!,
        status: name === 'loki' ? 204 : 200,
      })
    }
  })

  test("over the key's rate: 429 with Retry-After from its own wait, nothing stored; later it passes", async () => {
    clock += 10_000
    expect((await request(path, { body, type, authorization: `Bearer ${slow.key}` })).status).toBeLessThan(300)
    const before = sent.length
    clock += 200
    const limited = await request(path, { body, type, authorization: `Bearer ${slow.key}` })
    expect(limited.status).toBe(429)
    // 800 ms to wait: Retry-After in whole seconds, rounded up.
    expect(limited.headers.get('retry-after')).toBe('1')
    expect(await failureText(name, limited)).toContain('limit')
    expect(sent.length).toBe(before)
    clock += 800
    expect((await request(path, { body, type, authorization: `Bearer ${slow.key}` })).status).toBeLessThan(300)
  })
})

describe('the Elasticsearch handshake', () => {
  test('GET / and HEAD / need an ingest key too, as Beats send credentials there', async () => {
    const anonymous = await request('/', { method: 'GET' })
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('x-elastic-product')).toBe('Elasticsearch')
    expect(((await anonymous.json()) as { error: { type: string } }).error.type).toBe('security_exception')
    expect((await request('/', { method: 'HEAD' })).status).toBe(401)
    const banner = await request('/', { method: 'GET', authorization: basic('elastic', writer.key) })
    expect(banner.status).toBe(200)
    expect(((await banner.json()) as { version: { number: string } }).version.number).toStartWith('8.')
  })
})

test('refused keys are logged with the address, never with the key', async () => {
  await request('/jsonlines', { body: protocols['json lines'].body, type: 'application/x-ndjson', authorization: `Bearer ${writer.key}x` })
  const logged = lines.join('\n')
  expect(logged).toContain('ingest.unauthorized')
  expect(logged).toContain('10.1.2.3')
  for (const { key } of [writer, reader, slow]) expect(logged).not.toContain(key)
})
