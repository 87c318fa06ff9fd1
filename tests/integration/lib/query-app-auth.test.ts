import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { generateKey, type KeyRecord, type Scope } from '../../../src/lib/auth/api-key.ts'
import { FailureLimits, KeyRing } from '../../../src/lib/auth/key-ring.ts'
import { connect, type Sql } from '../../../src/lib/db.ts'
import { createLogger } from '../../../src/lib/log.ts'
import { formatMicros } from '../../../src/lib/log-entry.ts'
import { queryDatabaseUrl } from '../../../src/lib/log-search.ts'
import { createQueryApp } from '../../../src/lib/query-app.ts'
import { createTailHub } from '../../../src/lib/tail/tail-hub.ts'
import { createTailStore } from '../../../src/lib/tail/tail-store.ts'
import { baseConfig, eventually, freshDatabase } from '../../support/infra.ts'

/**
 * The query API with keys required (issue 15), in process (app.handle) over a real database and a real live
 * tail hub: every data route answers 401 without a key (with the Bearer challenge), 403 to an ingest key,
 * and its usual answer to a read or admin key, by Bearer or Basic; /health, the explorer page and the OpenAPI
 * docs stay open; a revoked key is refused at once; refused keys from one address are throttled (429 with
 * Retry-After, counted by the socket's address); no key ever reaches a logged line.
 */
const database = await freshDatabase()
const sql: Sql = connect(queryDatabaseUrl(database.url), { max: 4 })
const lines: string[] = []
const log = createLogger({ service: 'query-auth-test' }, { level: 'debug', write: (line) => lines.push(line) })

const made = (scope: Scope) => {
  const { key, id, hash } = generateKey()
  return { key, record: { id, name: `${scope} key`, scope, hash } satisfies KeyRecord }
}
const keys = { read: made('read'), ingest: made('ingest'), admin: made('admin') }
const revoked = made('read')
const ring = new KeyRing([keys.read.record, keys.ingest.record, keys.admin.record, revoked.record])
const hub = createTailHub({ ...baseConfig.tail, store: createTailStore(sql), log })
const app = createQueryApp({ sql, log, tail: hub, authenticator: ring })
afterAll(async () => {
  await hub.stop()
  await sql.end()
})

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
let logId = ''

beforeAll(async () => {
  const at = formatMicros(Date.now() * 1000 - 60e6)
  await sql`
    insert into logs (timestamp, service, level, message, metadata, trace_id, host, tags, kafka_partition, kafka_offset)
    values (${at}::timestamptz, 'api', 'ERROR', 'keyed log', '{}'::jsonb, ${TRACE}, 'h1', '{}', 0, 1)`
  const answer = await get('/query', bearer(keys.admin.key))
  logId = answer.body.logs[0].id
})

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })
const basic = (key: string) => ({ authorization: `Basic ${btoa(`logstream:${key}`)}` })

async function get(path: string, headers: Record<string, string> = {}) {
  const response = await app.handle(new Request(`http://localhost${path}`, { headers }))
  const type = response.headers.get('content-type') ?? ''
  // A stream (the tail) is read to its first bytes only, then let go.
  let body: any
  if (type.includes('event-stream')) {
    const reader = response.body!.getReader()
    const { value } = await reader.read()
    // The tailer enqueues its frames as text; a Response through a socket would carry bytes.
    body = typeof value === 'string' ? value : new TextDecoder().decode(value)
    await reader.cancel()
  } else body = type.includes('json') ? await response.json() : await response.text()
  return { status: response.status, headers: response.headers, type, body }
}

const routes = () => ({
  '/query': { status: 200, type: 'application/json' },
  [`/query/${TRACE}`]: { status: 200, type: 'application/json' },
  [`/query/${logId}/context`]: { status: 200, type: 'application/json' },
  '/histogram?from=1h': { status: 200, type: 'application/json' },
  '/facets?from=1h&fields=service': { status: 200, type: 'application/json' },
  '/export?format=ndjson&from=1h': { status: 200, type: 'application/x-ndjson' },
  '/tail': { status: 200, type: 'text/event-stream' },
})

describe('data routes need a read key', () => {
  test('no key: 401 AUTH_REQUIRED with WWW-Authenticate: Bearer realm="logstream"', async () => {
    for (const path of [...Object.keys(routes()), '/no-such-route']) {
      const answer = await get(path)
      expect([path, answer.status]).toEqual([path, 401])
      expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="logstream"')
      expect(answer.body.error).toBe('AUTH_REQUIRED')
    }
  })

  test('a malformed or unknown key, or an unknown scheme: 401', async () => {
    const fresh = createQueryApp({ sql, log, tail: hub, authenticator: new KeyRing([keys.read.record]) })
    for (const authorization of ['Bearer nonsense', `Bearer ${made('read').key}`, `Token ${keys.read.key}`, 'Bearer']) {
      const response = await fresh.handle(new Request('http://localhost/query', { headers: { authorization } }))
      expect([authorization.slice(0, 12), response.status]).toEqual([authorization.slice(0, 12), 401])
    }
  })

  test('an ingest key: 403 AUTH_FORBIDDEN naming the scope needed', async () => {
    for (const path of Object.keys(routes())) {
      const answer = await get(path, bearer(keys.ingest.key))
      expect([path, answer.status]).toEqual([path, 403])
      expect(answer.body).toMatchObject({ error: 'AUTH_FORBIDDEN', scope: 'read' })
      expect(answer.headers.get('www-authenticate')).toBeNull()
    }
  })

  test('a read key or an admin key, as Bearer, Basic (any user) or ApiKey: the usual answer', async () => {
    const presented = [bearer(keys.read.key), bearer(keys.admin.key), basic(keys.read.key), { authorization: `ApiKey ${keys.read.key}` }]
    for (const [path, expected] of Object.entries(routes())) {
      for (const headers of presented) {
        const answer = await get(path, headers)
        expect([path, answer.status]).toEqual([path, expected.status])
        expect(answer.type).toContain(expected.type)
      }
    }
    expect((await get('/query', bearer(keys.read.key))).body.logs.map((row: { message: string }) => row.message)).toEqual(['keyed log'])
    expect((await get('/tail', bearer(keys.read.key))).body).toContain('tail open')
  })

  test('a key revoked (left out when the keys are reloaded) is refused at once', async () => {
    expect((await get('/query', bearer(revoked.key))).status).toBe(200)
    ring.replace([keys.read.record, keys.ingest.record, keys.admin.record])
    const answer = await get('/query', bearer(revoked.key))
    expect(answer.status).toBe(401)
    expect(answer.body.message).toContain('not valid')
  })
})

describe('an open /tail stream', () => {
  test('ends once its key is revoked (checked again as heartbeats pass); the reconnect is refused', async () => {
    const own = made('read')
    const keyring = new KeyRing([own.record])
    const fastHub = createTailHub({ ...baseConfig.tail, heartbeatMs: 50, store: createTailStore(sql), log })
    const tailing = createQueryApp({ sql, log, tail: fastHub, authenticator: keyring, recheckMs: 20 })
    try {
      const response = await tailing.handle(new Request('http://localhost/tail', { headers: bearer(own.key) }))
      expect(response.status).toBe(200)
      const reader = response.body!.getReader()
      expect((await reader.read()).done).toBe(false)
      expect(fastHub.stats().clients).toBe(1)
      keyring.replace([])
      // Heartbeats flow until the next check sees the key gone; then the stream ends and the hub lets the client go.
      for (let read = await reader.read(); !read.done; read = await reader.read()) {}
      await eventually(() => (fastHub.stats().clients === 0 ? true : undefined), 5000, 'the hub to let the client go')
      const again = await tailing.handle(new Request('http://localhost/tail', { headers: bearer(own.key) }))
      expect(again.status).toBe(401)
    } finally {
      await fastHub.stop()
    }
  })

  test('a live key keeps streaming past many checks', async () => {
    const own = made('read')
    const fastHub = createTailHub({ ...baseConfig.tail, heartbeatMs: 20, store: createTailStore(sql), log })
    const tailing = createQueryApp({ sql, log, tail: fastHub, authenticator: new KeyRing([own.record]), recheckMs: 1 })
    try {
      const response = await tailing.handle(new Request('http://localhost/tail', { headers: bearer(own.key) }))
      const reader = response.body!.getReader()
      let heartbeats = 0
      while (heartbeats < 5) {
        const { done, value } = await reader.read()
        expect(done).toBe(false)
        if (String(typeof value === 'string' ? value : new TextDecoder().decode(value)).includes('heartbeat')) heartbeats++
      }
      await reader.cancel()
    } finally {
      await fastHub.stop()
    }
  })
})

describe('open without a key', () => {
  test('/health, the explorer page and its assets, the OpenAPI description and docs page', async () => {
    expect((await get('/health')).status).toBe(200)
    const page = await get('/')
    expect(page.status).toBe(200)
    const script = /src="(\/explorer\/[^"]+)"/.exec(page.body)![1]!
    expect((await get(script)).status).toBe(200)
    expect((await get('/openapi')).status).toBe(200)
    const description = await get('/openapi/json')
    expect(description.status).toBe(200)
    expect(Object.keys(description.body.paths)).toContain('/query')
    // The docs page can send a key (Authorize), and says /health needs none.
    expect(description.body.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(description.body.security).toEqual([{ apiKey: [] }])
    expect(description.body.paths['/health'].get.security).toEqual([])
  })

  test('keys off (the default authenticator): every route answers without one', async () => {
    const open = createQueryApp({ sql, tail: hub })
    const response = await open.handle(new Request('http://localhost/query'))
    expect(response.status).toBe(200)
  })
})

describe('the failure throttle, by the client address the server sees', () => {
  test("the authenticator is given the socket's address, whatever X-Forwarded-For says", async () => {
    const peers: string[] = []
    const spy = {
      authenticate(key: string | undefined, scope: Scope, peer: string) {
        peers.push(peer)
        return ring.authenticate(key, scope, peer)
      },
    }
    const listening = createQueryApp({ sql, authenticator: spy }).listen({ hostname: '127.0.0.1', port: 0 })
    try {
      const response = await fetch(`http://127.0.0.1:${listening.server!.port}/histogram?from=1h`, {
        headers: { ...bearer(keys.read.key), 'x-forwarded-for': '203.0.113.7' },
      })
      expect(response.status).toBe(200)
      expect(peers).toEqual(['127.0.0.1'])
    } finally {
      await listening.server!.stop(true)
    }
  })

  test(`after ${FailureLimits.attempts} refused keys a minute, 429 RATE_LIMITED with Retry-After, even for a good key; /health stays open`, async () => {
    const throttled = createQueryApp({ sql, log, authenticator: new KeyRing([keys.read.record]) }).listen({ hostname: '127.0.0.1', port: 0 })
    const server = throttled.server!
    const url = `http://127.0.0.1:${server.port}`
    try {
      for (let attempt = 0; attempt < FailureLimits.attempts; attempt++) {
        const response = await fetch(`${url}/query`, { headers: bearer(made('read').key) })
        expect(response.status).toBe(401)
        await response.body?.cancel()
      }
      const refused = await fetch(`${url}/query`, { headers: bearer(keys.read.key) })
      expect(refused.status).toBe(429)
      expect(((await refused.json()) as { error: string }).error).toBe('RATE_LIMITED')
      const seconds = Number(refused.headers.get('retry-after'))
      expect(seconds).toBeGreaterThan(0)
      expect(seconds).toBeLessThanOrEqual(FailureLimits.windowMs / 1000)
      expect((await fetch(`${url}/health`)).status).toBe(200)
    } finally {
      await server.stop(true)
    }
  })
})

describe('the key is never logged', () => {
  test('refusals are logged at debug without the key; a database failure with a key presented neither', async () => {
    const down = connect('postgres://postgres@127.0.0.1:1/none', { max: 1, connectTimeout: 1 })
    try {
      const broken = createQueryApp({ sql: down, log, authenticator: ring })
      const response = await broken.handle(new Request('http://localhost/query', { headers: bearer(keys.read.key) }))
      expect(response.status).toBe(503)
    } finally {
      await down.end({ timeout: 1 })
    }
    expect(lines.some((line) => line.includes('"query.unavailable"'))).toBe(true)
    expect(lines.some((line) => line.includes('"query.refused"'))).toBe(true)
    const secrets = [...Object.values(keys), revoked].flatMap(({ key }) => [key, key.slice(17), btoa(`logstream:${key}`)])
    for (const line of lines) for (const secret of secrets) expect(line.includes(secret)).toBe(false)
  })
})
