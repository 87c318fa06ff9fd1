import { describe, expect, test } from 'bun:test'
import { openAuthenticator } from '../../../src/lib/auth/key-ring.ts'
import { RateLimits } from '../../../src/lib/auth/rate-limits.ts'
import { createHttpIntakeHandler } from '../../../src/lib/http-intake/server.ts'
import { type Intake, NoValidLogsError } from '../../../src/lib/intake.ts'
import { createLogger } from '../../../src/lib/log.ts'
import { ingestMeter } from '../../../src/lib/metered-intake.ts'
import { ConsumerMetrics, createRegistry, deadLetterReason, IngestMetrics, metricsResponse, QueryMetrics } from '../../../src/lib/metrics.ts'

/** An intake whose accept is `accept`; nothing else of it is used by the metrics tests. */
function fakeIntake(accept: Intake['accept']): Intake {
  return {
    accept,
    reserve: () => Promise.reject(new Error('not used')),
    stats: { pendingBytes: 0, queuedItems: 0, inFlight: 0, batchesSent: 0, reservedBytes: 0, heldBytes: 0 },
    close: async () => {},
  }
}

describe('metrics', () => {
  test('the registry names every metric with HELP and TYPE lines, default process metrics included, under logstream_', async () => {
    const registry = createRegistry()
    const ingest = new IngestMetrics(registry, () => ({ pendingBytes: 1234 }))
    const query = new QueryMetrics(registry)
    ingest.count('jsonlines', 'accepted', 2)
    ingest.ack('jsonlines', 0.02)
    query.answered('/query', 200, 0.01)
    const text = await registry.metrics()
    for (const [name, type] of [
      ['logstream_ingest_entries_total', 'counter'],
      ['logstream_ingest_ack_seconds', 'histogram'],
      ['logstream_ingest_pending_bytes', 'gauge'],
      ['logstream_query_requests_total', 'counter'],
      ['logstream_query_seconds', 'histogram'],
      ['logstream_process_cpu_seconds_total', 'counter'],
    ]) {
      expect(text).toContain(`# HELP ${name} `)
      expect(text).toContain(`# TYPE ${name} ${type}`)
    }
    expect(text).toContain('logstream_ingest_entries_total{protocol="jsonlines",result="accepted"} 2')
    expect(text).toContain('logstream_ingest_pending_bytes 1234')
    expect(text).toContain('logstream_ingest_ack_seconds_count{protocol="jsonlines"} 1')
    for (const line of text.split('\n').filter((line) => line && !line.startsWith('#'))) expect(line.startsWith('logstream_')).toBe(true)
  })

  test('a route label is the pattern given, and one "unmatched" value for requests that matched none', async () => {
    const registry = createRegistry()
    const query = new QueryMetrics(registry)
    query.answered('/query/:trace_id', 200, 0.01)
    query.answered('', 404, 0.001)
    query.answered('', 404, 0.001)
    const text = await registry.metrics()
    expect(text).toContain('logstream_query_requests_total{route="/query/:trace_id",status="200"} 1')
    expect(text).toContain('logstream_query_requests_total{route="unmatched",status="404"} 2')
    expect(text).toContain('logstream_query_seconds_count{route="unmatched"} 2')
  })

  test("metricsResponse answers with prom-client's content type", async () => {
    const registry = createRegistry()
    const response = await metricsResponse(registry)
    expect(response.headers.get('content-type')).toBe(registry.contentType)
    expect(response.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
  })

  test('separate registries share nothing (one per service, no double registration)', async () => {
    const a = createRegistry()
    const b = createRegistry()
    new IngestMetrics(a, () => ({ pendingBytes: 0 })).count('grpc', 'failed', 3)
    new IngestMetrics(b, () => ({ pendingBytes: 0 }))
    expect(await a.metrics()).toContain('logstream_ingest_entries_total{protocol="grpc",result="failed"} 3')
    expect(await b.metrics()).not.toContain('result="failed"')
  })
})

describe('ingestMeter', () => {
  const counts = async (registry: ReturnType<typeof createRegistry>) =>
    (await registry.metrics()).split('\n').filter((line) => line.startsWith('logstream_ingest_'))

  test('counts accepted and rejected as the intake answered, parser refusals as rejected, and times an OK answer', async () => {
    const registry = createRegistry()
    let clock = 1000
    const meter = ingestMeter(new IngestMetrics(registry, () => ({ pendingBytes: 0 })), 'loki', () => clock)
    const intake = meter.intake(fakeIntake(async () => ({ accepted: 2, rejected: 1, error: '', rejections: [] })))
    intake.refused?.(4)
    await intake.accept([], { timeoutMs: 1000 })
    clock += 250
    meter.answered(true)
    const lines = await counts(registry)
    expect(lines).toContain('logstream_ingest_entries_total{protocol="loki",result="accepted"} 2')
    expect(lines).toContain('logstream_ingest_entries_total{protocol="loki",result="rejected"} 5')
    expect(lines).toContain('logstream_ingest_ack_seconds_sum{protocol="loki"} 0.25')
  })

  test('a throw fails every entry given; no valid entries counts them rejected; neither is timed', async () => {
    const registry = createRegistry()
    const metrics = new IngestMetrics(registry, () => ({ pendingBytes: 0 }))
    const entries = [{ input: {} }, { input: {} }, { input: {} }] as never[]
    const failing = ingestMeter(metrics, 'grpc')
    await expect(failing.intake(fakeIntake(() => Promise.reject(new Error('kafka down')))).accept(entries, { timeoutMs: 1 })).rejects.toThrow('kafka down')
    failing.answered(false)
    const invalid = ingestMeter(metrics, 'grpc')
    const none = new NoValidLogsError({ accepted: 0, rejected: 3, error: 'bad', rejections: [] })
    await expect(invalid.intake(fakeIntake(() => Promise.reject(none))).accept(entries, { timeoutMs: 1 })).rejects.toBe(none)
    invalid.answered(true)
    const lines = await counts(registry)
    expect(lines).toContain('logstream_ingest_entries_total{protocol="grpc",result="failed"} 3')
    expect(lines).toContain('logstream_ingest_entries_total{protocol="grpc",result="rejected"} 3')
    expect(lines).not.toContain('logstream_ingest_ack_seconds_count{protocol="grpc"} 1')
  })
})

describe('GET /metrics on the HTTP intake handler', () => {
  const intake = fakeIntake(() => Promise.reject(new Error('not used')))
  const log = createLogger({ service: 'metrics-test' }, { level: 'error', write: () => {} })
  const base = {
    maxBodyBytes: 1024,
    sendTimeoutMs: 1000,
    authenticator: openAuthenticator,
    limits: new RateLimits({ entriesPerSecond: 10, bytesPerSecond: 1024 }),
  }

  test('with keys off (openAuthenticator) it answers without a key, in Prometheus text format', async () => {
    const registry = createRegistry()
    const handle = createHttpIntakeHandler(intake, log, { ...base, metrics: { registry, ingest: new IngestMetrics(registry, () => intake.stats) } })
    const response = await handle(new Request('http://localhost/metrics'))
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe(registry.contentType)
    expect(await response.text()).toContain('# TYPE logstream_ingest_pending_bytes gauge')
  })

  test('a handler given no metrics has no /metrics', async () => {
    const handle = createHttpIntakeHandler(intake, log, base)
    expect((await handle(new Request('http://localhost/metrics'))).status).toBe(404)
  })
})

describe('ConsumerMetrics', () => {
  const lines = async (registry: ReturnType<typeof createRegistry>, prefix: string) =>
    (await registry.metrics()).split('\n').filter((line) => line.startsWith(prefix))

  test('rows by result, batch seconds and dead letters by reason, every value at 0 from the start', async () => {
    const registry = createRegistry()
    const metrics = new ConsumerMetrics(registry, async () => undefined)
    expect(await lines(registry, 'logstream_consumer_rows_total')).toEqual([
      'logstream_consumer_rows_total{result="inserted"} 0',
      'logstream_consumer_rows_total{result="duplicate"} 0',
    ])
    expect(await lines(registry, 'logstream_dead_letters_total')).toEqual([
      'logstream_dead_letters_total{reason="undecodable"} 0',
      'logstream_dead_letters_total{reason="database_refused"} 0',
      'logstream_dead_letters_total{reason="unknown"} 0',
    ])

    // 10 rows written: 6 new, 1 refused (it becomes a dead letter), so 3 were already stored.
    metrics.written(10, 6, 1)
    metrics.written(4, 4, 0)
    metrics.batch(0.02)
    metrics.batch(0.3)
    metrics.deadLettered([{ code: 'MESSAGE_UNDECODABLE' }, { code: '23514' }, { code: 'MESSAGE_UNDECODABLE' }, { code: 'UNKNOWN' }])
    const text = await registry.metrics()
    expect(text).toContain('logstream_consumer_rows_total{result="inserted"} 10')
    expect(text).toContain('logstream_consumer_rows_total{result="duplicate"} 3')
    expect(text).toContain('logstream_consumer_batch_seconds_count 2')
    expect(text).toContain('logstream_consumer_batch_seconds_bucket{le="0.025"} 1')
    expect(text).toContain('logstream_dead_letters_total{reason="undecodable"} 2')
    expect(text).toContain('logstream_dead_letters_total{reason="database_refused"} 1')
    expect(text).toContain('logstream_dead_letters_total{reason="unknown"} 1')
    expect(text).toContain('# TYPE logstream_consumer_lag gauge')
  })

  test('the dead-letter reason is one of three whatever the code, so the label stays bounded', () => {
    expect(deadLetterReason('MESSAGE_UNDECODABLE')).toBe('undecodable')
    for (const sqlstate of ['23514', '22P02', '54000', 'XX000']) expect(deadLetterReason(sqlstate)).toBe('database_refused')
    for (const other of ['UNKNOWN', 'ECONNRESET', '', 'something else entirely']) expect(deadLetterReason(other)).toBe('unknown')
  })

  test('the lag is read at each scrape, one series per assigned partition; none while unknown', async () => {
    const registry = createRegistry()
    let lags: ReadonlyMap<number, number> | undefined = new Map([
      [0, 5],
      [2, 0],
    ])
    new ConsumerMetrics(registry, async () => lags)
    expect(await lines(registry, 'logstream_consumer_lag')).toEqual(['logstream_consumer_lag{partition="0"} 5', 'logstream_consumer_lag{partition="2"} 0'])
    // After a rebalance this member holds partition 1 only: partitions 0 and 2 are no longer reported by it.
    lags = new Map([[1, 12]])
    expect(await lines(registry, 'logstream_consumer_lag')).toEqual(['logstream_consumer_lag{partition="1"} 12'])
    lags = undefined
    expect(await lines(registry, 'logstream_consumer_lag')).toEqual([])
  })

  test('a lag that cannot be read leaves no series, and the scrape still answers', async () => {
    const registry = createRegistry()
    new ConsumerMetrics(registry, () => Promise.reject(new Error('broker unreachable')))
    const text = await registry.metrics()
    expect(text).toContain('logstream_consumer_rows_total')
    expect(text.split('\n').filter((line) => line.startsWith('logstream_consumer_lag'))).toEqual([])
  })
})
