import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { freePort, type Service, spawnService } from '../../scripts/services.ts'
import type { IngestResponse, WireLogEntry } from '../../src/lib/proto.ts'
import { eventually, freshDatabase, freshTopics } from '../support/infra.ts'
import { type IngestClient, ingestClient } from '../support/ingest-client.ts'
import { committedToEnd } from '../support/topic-reader.ts'

/**
 * The whole stack as a user sees it: the three services as separate processes, logs in over gRPC,
 * found again over HTTP.
 */
const grpcPort = freePort()
const httpPort = freePort()
const services: Service[] = []
let client: IngestClient
const base = `http://127.0.0.1:${httpPort}`

function ingest(logs: WireLogEntry[]): Promise<IngestResponse> {
  return new Promise((resolve, reject) =>
    client.Ingest({ logs }, { deadline: Date.now() + 15_000 }, (error, response) => (error || !response ? reject(error) : resolve(response))),
  )
}

async function query(path: string): Promise<{ status: number; body: { logs: Record<string, unknown>[] } }> {
  const response = await fetch(`${base}${path}`)
  return { status: response.status, body: (await response.json()) as { logs: Record<string, unknown>[] } }
}

// At module level, not in beforeAll: their clean-up hooks must belong to the file, not to the hook.
const database = await freshDatabase()
const config = await freshTopics({ databaseUrl: database.url })

beforeAll(async () => {
  const env = {
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: String(grpcPort),
    OTLP_GRPC_PORT: '0',
    INGEST_HTTP_PORT: '0',
    CONSUME_HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(httpPort),
    KAFKA_TOPIC: config.kafka.topic,
    KAFKA_DLQ_TOPIC: config.kafka.dlqTopic,
    KAFKA_CONSUMER_GROUP: config.kafka.consumerGroup,
    DATABASE_URL: database.url,
  }
  for (const name of ['ingest', 'consume', 'query'] as const)
    services.push(spawnService(name, { env, onLine: (line) => line.includes('"level":"error"') && console.error(name, line) }))
  client = ingestClient(grpcPort)
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 30_000, (error) => (error ? reject(error) : resolve())))
  await eventually(async () => ((await fetch(`${base}/health`).catch(() => undefined))?.ok ? true : undefined), 30_000, 'query /health')
}, 90_000)

afterAll(async () => {
  client?.close()
  const codes = await Promise.all(services.map((service) => service.stop('SIGTERM')))
  expect(codes).toEqual([0, 0, 0])
}, 60_000)

describe('end to end', () => {
  test("the README's example log is accepted over gRPC and found over HTTP", async () => {
    // The README's example, sent a minute after its timestamp: a fixed date would leave the retention window.
    const seconds = Math.floor(Date.now() / 1000) - 60
    const iso = new Date(seconds * 1000).toISOString()
    const response = await ingest([
      {
        timestamp: { seconds, nanos: 0 },
        service: 'api-gateway',
        level: 'INFO',
        message: 'Request processed successfully',
        host: 'api-01',
        tags: ['http', 'success'],
      },
    ])
    expect(response).toMatchObject({ accepted: 1, rejected: 0 })

    const found = await eventually(
      async () => {
        const { body } = await query(`/query?service=api-gateway&from=${iso}&to=${new Date((seconds + 1) * 1000).toISOString()}`)
        return body.logs.length > 0 ? body.logs : undefined
      },
      30_000,
      'the log to become queryable',
    )
    expect(found[0]).toMatchObject({
      timestamp: iso.replace('Z', '000Z'),
      service: 'api-gateway',
      level: 'INFO',
      message: 'Request processed successfully',
      host: 'api-01',
      tags: ['http', 'success'],
      metadata: {},
    })
  })

  test('a trace sent in two requests comes back oldest first with its metadata as JSON', async () => {
    const traceId = crypto.randomUUID().replaceAll('-', '')
    const now = Math.floor(Date.now() / 1000)
    const sent = await Promise.all([
      ingest([
        { timestamp: { seconds: now, nanos: 2000 }, service: 'checkout', level: 'warning', message: 'second', trace_id: traceId, metadata: '{"step":2}' },
      ]),
      ingest([{ timestamp: { seconds: now, nanos: 1000 }, service: 'payments', level: 'err', message: 'first', trace_id: traceId, metadata: '{"step":1}' }]),
    ])
    expect(sent.map((response) => response.accepted)).toEqual([1, 1])

    const logs = await eventually(
      async () => {
        const { body } = await query(`/query/${traceId}`)
        return body.logs.length === 2 ? body.logs : undefined
      },
      30_000,
      'both trace logs',
    )
    expect(logs.map((log) => [log.message, log.level, log.metadata])).toEqual([
      ['first', 'ERROR', { step: 1 }],
      ['second', 'WARN', { step: 2 }],
    ])
  })

  test('a mixed batch stores only its valid entries', async () => {
    const marker = `mixed-${crypto.randomUUID()}`
    const response = await ingest([
      { service: marker, level: 'INFO', message: 'kept' },
      { service: marker, level: 'LOUD', message: 'refused' },
    ])
    expect(response).toMatchObject({ accepted: 1, rejected: 1 })
    await eventually(
      async () => {
        const { body } = await query(`/query?service=${marker}&from=1h`)
        return body.logs.length > 0 ? body.logs : undefined
      },
      30_000,
      'the valid entry',
    )
    // Once the consumers have committed the topic to its end, everything ingested is in PostgreSQL: a
    // refused entry stored late would be found now.
    await committedToEnd(config)
    const { body } = await query(`/query?service=${marker}&from=1h`)
    expect(body.logs.map((log) => log.message)).toEqual(['kept'])
  })
})
