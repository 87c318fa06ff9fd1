import { describe, expect, test } from 'bun:test'
import { freePort } from '../../../../scripts/services.ts'
import { generateKey, type KeyRecord, type Scope } from '../../../../src/lib/auth/api-key.ts'
import { KeyRing, openAuthenticator } from '../../../../src/lib/auth/key-ring.ts'
import { loadConfig } from '../../../../src/lib/config.ts'
import { createConsumerHttpHandler, METRICS_CHALLENGES, startConsumerHttp } from '../../../../src/lib/consumer/consumer-http.ts'
import { ConsumerMetrics, createRegistry } from '../../../../src/lib/metrics.ts'
import { silentLog } from './fakes.ts'

function key(name: string, scope: Scope) {
  const { key, id, hash } = generateKey()
  return { key, record: { id, name, scope, hash } as KeyRecord }
}
const reader = key('prometheus', 'read')
const shipper = key('shipper', 'ingest')

const registry = createRegistry()
new ConsumerMetrics(registry, async () => new Map([[1, 7]])).written(3, 3, 0)

const up = async () => {}
const get = (handler: ReturnType<typeof createConsumerHttpHandler>, path: string, authorization?: string, method = 'GET') =>
  handler(new Request(`http://127.0.0.1${path}`, { method, headers: authorization ? { authorization } : {} }))

describe('the consumer HTTP handler', () => {
  test('GET /health is 200 with each check up when Kafka and PostgreSQL answer', async () => {
    const handler = createConsumerHttpHandler({ registry, authenticator: openAuthenticator, checks: { kafka: up, database: up }, healthTimeoutMs: 1000 })
    const response = await get(handler, '/health')
    expect(response.status).toBe(200)
    const body = (await response.json()) as { status: string; checks: Record<string, { status: string }> }
    expect(body.status).toBe('ok')
    expect(Object.entries(body.checks).map(([name, check]) => [name, check.status])).toEqual([
      ['kafka', 'up'],
      ['database', 'up'],
    ])
  })

  test('GET /health is 503 naming the failed check', async () => {
    const handler = createConsumerHttpHandler({
      registry,
      authenticator: openAuthenticator,
      checks: { kafka: up, database: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')) },
      healthTimeoutMs: 1000,
    })
    const response = await get(handler, '/health')
    expect(response.status).toBe(503)
    expect(await response.json()).toEqual({
      status: 'unavailable',
      checks: { kafka: { status: 'up', took_ms: expect.any(Number) }, database: { status: 'down', error: 'connect ECONNREFUSED 127.0.0.1:5432' } },
    })
  })

  test('GET /metrics with keys off: the registry in Prometheus text format', async () => {
    const handler = createConsumerHttpHandler({ registry, authenticator: openAuthenticator, checks: {}, healthTimeoutMs: 1000 })
    const response = await get(handler, '/metrics')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe(registry.contentType)
    const text = await response.text()
    expect(text).toContain('logstream_consumer_rows_total{result="inserted"} 3')
    expect(text).toContain('logstream_consumer_lag{partition="1"} 7')
    expect(text).toContain('logstream_process_cpu_seconds_total')
  })

  describe('with keys required', () => {
    const handler = createConsumerHttpHandler({
      registry,
      authenticator: new KeyRing([reader.record, shipper.record]),
      checks: { kafka: up, database: up },
      healthTimeoutMs: 1000,
    })

    test('/metrics needs a read key: 401 with the challenges without one, 403 for an ingest key, 200 for a read key', async () => {
      const none = await get(handler, '/metrics')
      expect(none.status).toBe(401)
      expect(((await none.json()) as { error: string }).error).toBe('AUTH_REQUIRED')
      expect(none.headers.get('www-authenticate')).toBe(METRICS_CHALLENGES.join(', '))
      expect((await get(handler, '/metrics', `Bearer ${shipper.key}`)).status).toBe(403)
      const scraped = await get(handler, '/metrics', `Bearer ${reader.key}`)
      expect(scraped.status).toBe(200)
      expect(await scraped.text()).toContain('logstream_consumer_rows_total')
      // Prometheus's basic_auth works too, the key as the password.
      expect((await get(handler, '/metrics', `Basic ${Buffer.from(`prometheus:${reader.key}`).toString('base64')}`)).status).toBe(200)
    })

    test('/health stays open, for orchestrators that hold no key', async () => {
      expect((await get(handler, '/health')).status).toBe(200)
    })
  })

  test('anything else is a 404 naming what the consumer serves', async () => {
    const handler = createConsumerHttpHandler({ registry, authenticator: openAuthenticator, checks: {}, healthTimeoutMs: 1000 })
    for (const [method, path] of [
      ['GET', '/query'],
      ['POST', '/metrics'],
    ] as const) {
      const response = await get(handler, path, undefined, method)
      expect(response.status).toBe(404)
      expect(((await response.json()) as { message: string }).message).toContain('GET /health and GET /metrics')
    }
  })
})

describe('startConsumerHttp', () => {
  test('listens on port 0 and answers 503 naming Kafka and PostgreSQL when neither can be reached', async () => {
    const config = {
      ...loadConfig({}),
      consumeHttp: { host: '127.0.0.1', port: 0 },
      // Nothing listens on these ports.
      kafka: { ...loadConfig({}).kafka, brokers: [`127.0.0.1:${freePort()}`] },
      databaseUrl: `postgres://postgres@127.0.0.1:${freePort()}/logstream`,
    }
    const http = startConsumerHttp(config, { registry, authenticator: openAuthenticator, log: silentLog, healthTimeoutMs: 300 })
    try {
      expect(http.port).toBeGreaterThan(0)
      const response = await fetch(`http://127.0.0.1:${http.port}/health`)
      expect(response.status).toBe(503)
      const body = (await response.json()) as { checks: Record<string, { status: string }> }
      expect(body.checks.kafka?.status).toBe('down')
      expect(body.checks.database?.status).toBe('down')
      expect((await fetch(`http://127.0.0.1:${http.port}/metrics`)).status).toBe(200)
    } finally {
      await http.close()
    }
  })
})
