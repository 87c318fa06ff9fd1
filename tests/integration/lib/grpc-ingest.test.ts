import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { service as healthService } from 'grpc-health-check'
import { type BrokerOptions, startKafka, stopKafka } from '../../../scripts/infra/kafka-broker.ts'
import { freePort } from '../../../scripts/services.ts'
import type { Config } from '../../../src/lib/config.ts'
import { type IngestServer, startIngestServer } from '../../../src/lib/ingest-server.ts'
import { createAdmin, ensureTopics } from '../../../src/lib/kafka.ts'
import { createLogger } from '../../../src/lib/log.ts'
import { METADATA_MAX_DEPTH } from '../../../src/lib/log-entry.ts'
import { createLogProducer, type LogProducer } from '../../../src/lib/producer.ts'
import { ERROR_CODE_METADATA, ingestService } from '../../../src/lib/proto.ts'
import { baseConfig, eventually, freshTopics } from '../../support/infra.ts'
import { type IngestClient, ingest, ingestClient } from '../../support/ingest-client.ts'
import { readTopic } from '../../support/topic-reader.ts'

const log = createLogger({ service: 'ingest-test' }, { level: 'error' })

function withSettings(config: Config, ingestSettings: Partial<Config['ingest']> = {}, grpcSettings: Partial<Config['grpc']> = {}): Config {
  return {
    ...config,
    grpc: { ...config.grpc, host: '127.0.0.1', port: 0, otlpPort: 0, ...grpcSettings },
    intakeHttp: { ...config.intakeHttp, port: 0 },
    ingest: { ...config.ingest, ...ingestSettings },
  }
}

setDefaultTimeout(40_000)
// A minute ago: a fixed date would leave the retention window (RETENTION_DAYS) and be refused.
const RECENT_SECONDS = Math.floor(Date.now() / 1000) - 60
const readmeExample = {
  timestamp: { seconds: RECENT_SECONDS, nanos: 0 },
  service: 'api-gateway',
  level: 'INFO',
  message: 'Request processed successfully',
  host: 'api-01',
  tags: ['http', 'success'],
}

const sharedTopics = await freshTopics()

describe('ingest service', () => {
  let config: Config
  let service: IngestServer
  let client: IngestClient

  beforeAll(async () => {
    // freshTopics runs at the top level: an afterAll it registers inside a beforeAll fires when that hook ends.
    config = withSettings(sharedTopics)
    service = await startIngestServer(config, { log })
    client = ingestClient(service.port)
  })

  afterAll(async () => {
    client?.close()
    await service?.close()
  })

  test('the README example is acknowledged and lands on the topic, normalised, keyed by service', async () => {
    const { response, error } = await ingest(client, [readmeExample])
    expect(error).toBeUndefined()
    expect(response).toMatchObject({ accepted: 1, rejected: 0 })
    const [stored] = await readTopic(config, 1)
    expect(stored!.key).toBe('api-gateway')
    expect(stored!.record).toEqual({
      timestampMicros: RECENT_SECONDS * 1_000_000,
      service: 'api-gateway',
      level: 'INFO',
      message: 'Request processed successfully',
      metadata: '{}',
      traceId: '',
      spanId: '',
      host: 'api-01',
      tags: ['http', 'success'],
    })
  })

  test('an entry sent already normalised is stored exactly as sent, nanoseconds truncated to microseconds on read', async () => {
    const canonical = {
      ...readmeExample,
      service: 'canonical',
      timestamp: { seconds: RECENT_SECONDS, nanos: 123_456_789 },
      metadata: '{"user_id":"123"}',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      span_id: '00f067aa0ba902b7',
    }
    const { response } = await ingest(client, [canonical])
    expect(response?.accepted).toBe(1)
    const stored = await eventually(async () => (await readTopic(config, 1)).find((item) => item.key === 'canonical'), 30_000, 'the canonical entry')
    expect(stored.record).toEqual({
      timestampMicros: RECENT_SECONDS * 1_000_000 + 123_456,
      service: 'canonical',
      level: 'INFO',
      message: 'Request processed successfully',
      metadata: '{"user_id":"123"}',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      host: 'api-01',
      tags: ['http', 'success'],
    })
  })

  test('a mixed batch accepts the valid entries and reports each rejected one by index and field', async () => {
    const logs = [
      { ...readmeExample, message: 'ok 0' },
      { ...readmeExample, level: 'LOUD' },
      { ...readmeExample, message: 'ok 2', level: 'warning' },
      { ...readmeExample, service: '' },
    ]
    const { response, error } = await ingest(client, logs)
    expect(error).toBeUndefined()
    expect(response!.accepted).toBe(2)
    expect(response!.rejected).toBe(2)
    expect(response!.rejections!.map(({ index, field }) => ({ index, field }))).toEqual([
      { index: 1, field: 'level' },
      { index: 3, field: 'service' },
    ])
    expect(response!.rejections![0]!.reason).toContain('TRACE, DEBUG, INFO, WARN, ERROR, FATAL')
    expect(response!.error).toContain('logs[1].level')
  })

  test('an entry older than the retention window beside a good one: one accepted, one rejected naming RETENTION_DAYS', async () => {
    const days = sharedTopics.retentionDays
    const old = { ...readmeExample, message: 'too old', timestamp: { seconds: RECENT_SECONDS - (days + 1) * 86_400, nanos: 0 } }
    const { response, error } = await ingest(client, [old, { ...readmeExample, message: 'recent' }])
    expect(error).toBeUndefined()
    expect(response).toMatchObject({ accepted: 1, rejected: 1 })
    expect(response!.rejections!.map(({ index, field }) => ({ index, field }))).toEqual([{ index: 0, field: 'timestamp' }])
    expect(response!.rejections![0]!.reason).toContain(`(RETENTION_DAYS=${days}); the next retention pass would delete it`)
    expect(response!.error).toContain('logs[0].timestamp is ')
  })

  test("garbage or truncated protobuf is INVALID_ARGUMENT (the client's fault), not INTERNAL, and the server serves the next request", async () => {
    const Raw = grpc.makeGenericClientConstructor(
      { Ingest: { ...ingestService.Ingest, requestSerialize: (buffer: Buffer) => buffer, responseDeserialize: (buffer: Buffer) => buffer } },
      'LogIngestion',
    )
    const raw = new Raw(`127.0.0.1:${service.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Ingest(request: Buffer, callback: (error: grpc.ServiceError | null) => void): void
    }
    const send = (bytes: Buffer) => new Promise<grpc.ServiceError | null>((resolve) => raw.Ingest(bytes, (error) => resolve(error)))
    try {
      // 'n' is field 13 with wire type 6, which does not exist.
      const garbage = await send(Buffer.from('not a protobuf at all'))
      expect(garbage?.code).toBe(grpc.status.INVALID_ARGUMENT)
      expect(garbage?.details).toContain('not a protobuf IngestRequest')
      expect(garbage?.metadata.get(ERROR_CODE_METADATA)).toEqual(['REQUEST_INVALID'])
      // A logs entry (field 1, length-delimited) claiming 50 bytes where 2 follow.
      const truncated = await send(Buffer.from([0x0a, 50, 0x12, 0x00]))
      expect(truncated?.code).toBe(grpc.status.INVALID_ARGUMENT)
    } finally {
      raw.close()
    }
    expect((await ingest(client, [readmeExample])).response?.accepted).toBe(1)
  })

  test('metadata PostgreSQL jsonb would refuse is rejected at intake, per entry with a reason, never accepted', async () => {
    const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`
    const logs = [readmeExample, { ...readmeExample, metadata: '{"k":"\\ud800"}' }, { ...readmeExample, metadata: deep }]
    const { response } = await ingest(client, logs)
    expect(response).toMatchObject({ accepted: 1, rejected: 2 })
    expect(response!.error).toContain('logs[1].metadata holds an unpaired surrogate escape (\\ud800)')
    expect(response!.error).toContain(`logs[2].metadata nests objects and arrays more than ${METADATA_MAX_DEPTH} levels deep`)
  })

  test('a request with no logs fails with INVALID_ARGUMENT', async () => {
    const { error } = await ingest(client, [])
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(error?.details).toContain('no logs')
  })

  test('a request with no valid entry fails with INVALID_ARGUMENT naming the first problems and describing all', async () => {
    const logs = [
      { ...readmeExample, service: '' },
      { ...readmeExample, metadata: '[1]' },
      { ...readmeExample, trace_id: 'xyz' },
      { ...readmeExample, message: '' },
    ]
    const { error, described } = await ingest(client, logs)
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(error?.details).toContain('logs[0].service is required')
    expect(error?.details).toContain('logs[1].metadata')
    expect(error?.details).toContain('and 1 more')
    expect(error?.metadata.get(ERROR_CODE_METADATA)).toEqual(['REQUEST_INVALID'])
    expect(described).toMatchObject({ accepted: 0, rejected: 4 })
    expect(described!.rejections!.map((item) => item.field)).toEqual(['service', 'metadata', 'trace_id', 'message'])
  })

  test('an entry without a timestamp is stamped with the time it was received', async () => {
    const before = Date.now() * 1000
    const { timestamp: _, ...untimed } = readmeExample
    const { response } = await ingest(client, [{ ...untimed, service: 'no-timestamp' }])
    expect(response?.accepted).toBe(1)
    const stored = await readTopic(config, 3)
    const record = stored.find((item) => item.key === 'no-timestamp')!.record
    expect(record.timestampMicros).toBeGreaterThanOrEqual(before)
    expect(record.timestampMicros).toBeLessThanOrEqual(Date.now() * 1000)
  })

  test('serves the standard health service', async () => {
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health')
    const health = new Health(`127.0.0.1:${service.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Check(request: { service: string }, callback: (error: grpc.ServiceError | null, response?: { status: string }) => void): void
    }
    const status = await new Promise((resolve, reject) =>
      health.Check({ service: 'logstream.LogIngestion' }, (error, response) => (error ? reject(error) : resolve(response?.status))),
    )
    health.close()
    expect(status).toBe('SERVING')
  })

  test('serves gRPC reflection, so grpcurl works without the proto file', async () => {
    const reflectionProto = require.resolve('@grpc/reflection').replace(/build\/src\/index\.js$/, 'build/proto/grpc/reflection/v1/reflection.proto')
    const definition = protoLoader.loadSync(reflectionProto, { keepCase: true })
    const {
      grpc: {
        reflection: {
          v1: { ServerReflection },
        },
      },
    } = grpc.loadPackageDefinition(definition) as unknown as {
      grpc: {
        reflection: {
          v1: {
            ServerReflection: new (
              address: string,
              credentials: grpc.ChannelCredentials,
            ) => grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<object, { list_services_response?: { service: { name: string }[] } }> }
          }
        }
      }
    }
    const reflection = new ServerReflection(`127.0.0.1:${service.port}`, grpc.credentials.createInsecure())
    const call = reflection.ServerReflectionInfo()
    const names = await new Promise<string[]>((resolve, reject) => {
      call.on('data', (reply) => resolve(reply.list_services_response?.service.map((item: { name: string }) => item.name) ?? []))
      call.on('error', reject)
      call.write({ list_services: '' })
    })
    call.end()
    reflection.close()
    expect(names).toContain('logstream.LogIngestion')
    expect(names).toContain('grpc.health.v1.Health')
  })
})

describe('ingest service limits', () => {
  test('a request larger than GRPC_MAX_REQUEST_BYTES gets RESOURCE_EXHAUSTED with the sizes in the message', async () => {
    const config = withSettings(await freshTopics(), {}, { maxRequestBytes: 4096 })
    const service = await startIngestServer(config, { log })
    const client = ingestClient(service.port)
    try {
      const { error } = await ingest(client, [{ ...readmeExample, message: 'x'.repeat(8000) }])
      expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
      expect(error?.details).toMatch(/larger than max \(\d+ vs\.? 4096\)/)
    } finally {
      client.close()
      await service.close()
    }
  })

  test("a full batch of one service's logs is stored, though it exceeds Kafka's 1 MB default record-batch limit", async () => {
    const config = withSettings(await freshTopics(), { batchMaxCount: 100_000, batchMaxBytes: 4 * 1024 * 1024, lingerMs: 100 })
    const service = await startIngestServer(config, { log })
    const client = ingestClient(service.port, { 'grpc.max_send_message_length': 64 * 1024 * 1024 })
    try {
      const logs = Array.from({ length: 15_000 }, (_, i) => ({ ...readmeExample, message: `entry ${i} ${'x'.repeat(200)}` }))
      const { response, error } = await ingest(client, logs, 30_000)
      expect(error).toBeUndefined()
      expect(response).toMatchObject({ accepted: 15_000, rejected: 0 })
    } finally {
      client.close()
      await service.close()
    }
  })

  test('while calls awaiting Kafka hold INGEST_MAX_PENDING_BYTES, a new call gets RESOURCE_EXHAUSTED / INGEST_OVERLOADED at once; once they are answered, calls are taken again', async () => {
    const config = withSettings(await freshTopics(), { maxPendingBytes: 64 * 1024 }, { maxRequestBytes: 64 * 1024 })
    const held = heldProducer(config)
    const service = await startIngestServer(config, { log, producer: held.producer })
    const client = ingestClient(service.port)
    try {
      const first = ingest(client, [{ ...readmeExample, message: `first ${'x'.repeat(10_000)}` }])
      await eventually(() => (held.waiting() > 0 ? true : undefined), 10_000, 'the first call to reach the producer')
      const refused = await ingest(client, [{ ...readmeExample, message: 'second' }])
      expect(refused.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
      expect(refused.error?.metadata.get(ERROR_CODE_METADATA)).toEqual(['INGEST_OVERLOADED'])
      held.release()
      expect((await first).response?.accepted).toBe(1)
      expect((await ingest(client, [{ ...readmeExample, message: 'third' }])).response?.accepted).toBe(1)
      const stored = await readTopic(config, 2)
      expect(stored.map((item) => item.record.message.slice(0, 5)).sort()).toEqual(['first', 'third'])
    } finally {
      held.release()
      client.close()
      await service.close()
    }
  })
})

describe('ingest service with Kafka down', () => {
  let broker: BrokerOptions
  let config: Config

  beforeAll(async () => {
    broker = { dir: mkdtempSync(`${tmpdir()}/logstream-ingest-broker-`), port: freePort(), controllerPort: freePort(), heapMb: 256 }
    await startKafka(broker)
    const brokers = [`127.0.0.1:${broker.port}`]
    // A send timeout far beyond the calls' deadlines: the UNAVAILABLE below must come from the deadline.
    config = withSettings(await topicOn(brokers), { sendTimeoutMs: 60_000 })
  }, 120_000)

  afterAll(async () => {
    await stopKafka(broker)
    rmSync(broker.dir, { recursive: true, force: true })
  }, 60_000)

  test("answers UNAVAILABLE before the client's deadline while Kafka is down, and ingests again once it is back, without a restart", async () => {
    const service = await startIngestServer(config, { log })
    const client = ingestClient(service.port)
    try {
      expect((await ingest(client, [{ ...readmeExample, message: 'before' }])).response?.accepted).toBe(1)

      await stopKafka(broker)
      const down = await ingest(client, [{ ...readmeExample, message: 'during' }], 3000)
      expect(down.error?.code).toBe(grpc.status.UNAVAILABLE)
      expect(down.error?.metadata.get(ERROR_CODE_METADATA)).toEqual(['KAFKA_UNAVAILABLE'])

      await startKafka(broker)
      const after = await eventually(
        async () => {
          const outcome = await ingest(client, [{ ...readmeExample, message: 'after' }], 5000)
          return outcome.response?.accepted === 1 ? outcome.response : undefined
        },
        60_000,
        'ingestion to resume',
      )
      expect(after.accepted).toBe(1)

      const stored = await readTopic(config, 2)
      const messages = stored.map((item) => item.record.message)
      expect(messages).toContain('before')
      expect(messages).toContain('after')
    } finally {
      client.close()
      await service.close()
    }
  }, 180_000)
})

/** The real producer for `config`, whose sends wait until `release()`: calls stay in flight as long as a test needs. */
function heldProducer(config: Config) {
  const real = createLogProducer({ kafka: config.kafka, sendTimeoutMs: 10_000 })
  const { promise: released, resolve: release } = Promise.withResolvers<void>()
  let waiting = 0
  const producer: LogProducer = {
    async send(messages, timeoutMs) {
      waiting += 1
      await released
      return real.send(messages, timeoutMs)
    },
    close: () => real.close(),
  }
  return { producer, release: () => release(), waiting: () => waiting }
}

/** The outage test's topic lives on its private broker, which only this file uses. */
async function topicOn(brokers: string[]): Promise<Config> {
  const config: Config = { ...baseConfig, kafka: { ...baseConfig.kafka, brokers, topic: 'outage.raw', consumerGroup: 'outage-test' } }
  const admin = createAdmin(config.kafka)
  try {
    await ensureTopics(admin, [{ topic: config.kafka.topic, partitions: 3, retentionMs: 3_600_000 }])
  } finally {
    await admin.close()
  }
  return config
}
