import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { Consumer, type Message, ProduceAcks, Producer } from '@platformatic/kafka'
import { type BrokerOptions, startKafka, stopKafka } from '../../../../scripts/infra/kafka-broker.ts'
import { freePort } from '../../../../scripts/services.ts'
import { encodeLogRecord } from '../../../../src/lib/codec.ts'
import type { Config } from '../../../../src/lib/config.ts'
import { type LogConsumer, startConsumer } from '../../../../src/lib/consumer/consumer.ts'
import { ConsumerStates } from '../../../../src/lib/consumer/stats.ts'
import { DeadLetterHeaders } from '../../../../src/lib/dead-letters.ts'
import { createAdmin, ensureTopics } from '../../../../src/lib/kafka.ts'
import { createLogger } from '../../../../src/lib/log.ts'
import type { LogRecord } from '../../../../src/lib/log-entry.ts'
import { readDeadLetters } from '../../../support/dead-letters.ts'
import { eventually, freshDatabase, freshTopics, type TestDatabase } from '../../../support/infra.ts'
import { startTcpProxy } from '../../../support/tcp-proxy.ts'
import { committedToEnd, endOffsets } from '../../../support/topic-reader.ts'

const log = createLogger({ service: 'consume-test' }, { level: (process.env.TEST_LOG_LEVEL as 'warn' | undefined) ?? 'error' })

const record = (i: number, overrides: Partial<LogRecord> = {}): LogRecord => ({
  timestampMicros: Math.floor(Date.now() / 1000) * 1_000_000 - 60_000_000 + i * 7 + 1,
  service: `svc-${i % 5}`,
  level: 'WARN',
  message: `message ${i}`,
  metadata: JSON.stringify({ i, user: `u${i}` }),
  traceId: '',
  spanId: '',
  host: `host-${i % 3}`,
  tags: [`n:${i}`, 'test'],
  ...overrides,
})

async function produce(config: Config, values: (Uint8Array | Buffer)[], key = (i: number) => `svc-${i % 5}`): Promise<void> {
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'consumer-test',
    bootstrapBrokers: config.kafka.brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
  })
  try {
    for (let i = 0; i < values.length; i += 500) {
      await producer.send({
        messages: values.slice(i, i + 500).map((value, j) => ({ topic: config.kafka.topic, key: Buffer.from(key(i + j)), value: Buffer.from(value) })),
      })
    }
  } finally {
    await producer.close()
  }
}

const header = (message: Message<Buffer, Buffer, Buffer, Buffer>, name: string) => [...message.headers].find(([key]) => key.toString() === name)?.[1].toString()

const committedTotal = (consumer: LogConsumer) => [...consumer.stats().committed.values()].reduce((sum, offset) => sum + offset, 0n)

const countRows = async (db: TestDatabase) => (await db.sql<{ n: number }[]>`select count(*)::int as n from logs`)[0]!.n

async function setUp(overrides: Partial<Config['consume']> = {}, options: { databaseUrl?: (url: string) => string } = {}) {
  const db = await freshDatabase()
  const topics = await freshTopics({ databaseUrl: db.url })
  const config: Config = {
    ...topics,
    databaseUrl: options.databaseUrl?.(db.url) ?? db.url,
    consume: { ...topics.consume, batchMaxRows: 200, lingerMs: 50, statsIntervalMs: 60_000, retryMinMs: 20, retryMaxMs: 200, ...overrides },
  }
  const running: LogConsumer[] = []
  const start = async () => {
    const consumer = await startConsumer({ config, log })
    running.push(consumer)
    return consumer
  }
  // Stopping closes the write pool, which gives connections broken mid-query up to 5 s to end.
  afterAll(async () => {
    for (const consumer of running) await consumer.stop()
  }, 30_000)
  return { db, config, start }
}

/** Sum over the topic's partitions of the offsets the group has committed on the broker. */
async function brokerCommittedTotal(config: Config): Promise<bigint> {
  const reader = new Consumer({ clientId: 'offset-reader', groupId: config.kafka.consumerGroup, bootstrapBrokers: config.kafka.brokers })
  try {
    const committed = await reader.listCommittedOffsets({ topics: [{ topic: config.kafka.topic, partitions: [0, 1, 2] }] })
    return (committed.get(config.kafka.topic) ?? []).reduce((sum, offset) => sum + (offset > 0n ? offset : 0n), 0n)
  } finally {
    await reader.close(true)
  }
}

describe('startConsumer', () => {
  test('N messages produced become N rows, field for field', async () => {
    const { db, config, start } = await setUp()
    const records = Array.from({ length: 1000 }, (_, i) => record(i))
    await produce(config, records.map(encodeLogRecord))
    await start()

    await eventually(async () => ((await countRows(db)) === records.length ? true : undefined), 30_000, '1000 rows')
    await committedToEnd(config)
    expect(await countRows(db)).toBe(records.length)
    const rows = await db.sql`
      select (extract(epoch from timestamp) * 1000000)::bigint as micros, service, level, message, metadata, trace_id, span_id, host, tags
      from logs order by timestamp`
    expect(rows.map((row) => ({ ...row }))).toEqual(
      records.map((r) => ({
        micros: BigInt(r.timestampMicros),
        service: r.service,
        level: r.level,
        message: r.message,
        metadata: JSON.parse(r.metadata),
        trace_id: r.traceId || null,
        span_id: r.spanId || null,
        host: r.host,
        tags: r.tags,
      })),
    )
  })

  test('trace and span ids travel from Kafka to their columns', async () => {
    const { db, config, start } = await setUp()
    await produce(config, [encodeLogRecord(record(1, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }))])
    await start()
    const [row] = await eventually(
      async () => {
        const rows = await db.sql`select trace_id, span_id from logs`
        return rows.length === 1 ? rows : undefined
      },
      20_000,
      'one row',
    )
    expect({ ...row }).toEqual({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' })
  })

  test('a corrupt message goes to the DLQ with its reason while its batch neighbours are stored', async () => {
    const { db, config, start } = await setUp({ lingerMs: 500 })
    const corrupt = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02])
    const values = [encodeLogRecord(record(1)), encodeLogRecord(record(2)), corrupt, encodeLogRecord(record(3)), encodeLogRecord(record(4))]
    // One key: one partition, so the corrupt message sits between its neighbours in the same batch.
    await produce(config, values, () => 'same-service')
    const consumer = await start()

    await eventually(async () => ((await countRows(db)) === 4 ? true : undefined), 20_000, '4 rows')
    await committedToEnd(config)
    expect(await countRows(db)).toBe(4)
    const [letter] = await readDeadLetters(config, 1)
    expect(Buffer.compare(letter!.value, corrupt)).toBe(0)
    expect(letter!.key.toString()).toBe('same-service')
    expect(header(letter!, DeadLetterHeaders.code)).toBe('MESSAGE_UNDECODABLE')
    expect(header(letter!, DeadLetterHeaders.reason)).toMatch(/protobuf/)
    expect(header(letter!, DeadLetterHeaders.offset)).toBe('2')
    await eventually(() => (consumer.stats().deadLetters === 1 ? true : undefined))
  })

  test('a message PostgreSQL refuses goes to the DLQ with the SQLSTATE while its neighbours are stored', async () => {
    const { db, config, start } = await setUp({ lingerMs: 500 })
    // The ingest rules now refuse everything the schema itself would (issue 16: accepted means stored), so a
    // constraint of this test's own database stands in for a row PostgreSQL refuses on its own.
    const refused = 'refused by this test database'
    await db.sql.unsafe(`alter table logs add constraint test_refuses check (message <> '${refused}')`)
    const values = [record(1), record(2), record(3, { message: refused }), record(4)].map(encodeLogRecord)
    await produce(config, values, () => 'same-service')
    await start()

    await eventually(async () => ((await countRows(db)) === 3 ? true : undefined), 20_000, '3 rows')
    await committedToEnd(config)
    expect(await countRows(db)).toBe(3)
    const [letter] = await readDeadLetters(config, 1)
    expect(header(letter!, DeadLetterHeaders.code)).toBe('23514')
    expect(header(letter!, DeadLetterHeaders.offset)).toBe('2')
    expect(Buffer.compare(letter!.value, Buffer.from(values[2]!))).toBe(0)
  })

  test('when the database connection is cut it stops committing, retries, and resumes with exactly N rows', async () => {
    const db0 = new URL((await freshDatabase()).url)
    const proxy = await startTcpProxy({ host: db0.hostname, port: Number(db0.port) })
    afterAll(() => proxy.close())
    const { db, config, start } = await setUp({}, { databaseUrl: (url) => url.replace(/:\d+\//, `:${proxy.port}/`) })
    const consumer = await start()

    await produce(
      config,
      Array.from({ length: 300 }, (_, i) => encodeLogRecord(record(i))),
    )
    await eventually(async () => ((await countRows(db)) === 300 ? true : undefined), 20_000, 'first 300 rows')
    const committedBefore = consumer.stats().committed

    await proxy.cut()
    await produce(
      config,
      Array.from({ length: 700 }, (_, i) => encodeLogRecord(record(300 + i))),
    )
    await eventually(() => (consumer.stats().state === ConsumerStates.waitingForDatabase ? true : undefined), 20_000, 'the consumer to wait for the database')
    expect(consumer.stats().committed).toEqual(committedBefore)
    expect(await countRows(db)).toBe(300)

    await proxy.restore()
    await eventually(async () => ((await countRows(db)) === 1000 ? true : undefined), 30_000, '1000 rows after restore')
    await eventually(
      () => {
        const committed = [...consumer.stats().committed.values()].reduce((sum, offset) => sum + offset, 0n)
        return committed === 1000n ? true : undefined
      },
      20_000,
      'offsets committed up to 1000 messages',
    )
    await committedToEnd(config)
    expect(await countRows(db)).toBe(1000)
    expect(consumer.stats().state).toBe(ConsumerStates.running)
  }, 90_000)

  test('when a write gets no reply (network blackhole) it times out, retries without committing, and resumes with exactly N rows', async () => {
    const db0 = new URL((await freshDatabase()).url)
    const proxy = await startTcpProxy({ host: db0.hostname, port: Number(db0.port) })
    afterAll(() => proxy.close())
    const { db, config, start } = await setUp({ writeTimeoutMs: 300 }, { databaseUrl: (url) => url.replace(/:\d+\//, `:${proxy.port}/`) })
    const consumer = await start()

    await produce(
      config,
      Array.from({ length: 300 }, (_, i) => encodeLogRecord(record(i))),
    )
    await eventually(async () => ((await countRows(db)) === 300 ? true : undefined), 20_000, 'first 300 rows')
    await eventually(() => (committedTotal(consumer) === 300n ? true : undefined), 20_000, 'first 300 offsets committed')

    await proxy.stall()
    await produce(
      config,
      Array.from({ length: 700 }, (_, i) => encodeLogRecord(record(300 + i))),
    )
    // Without a bound the write would wait forever in state "running"; bounded, it fails and is retried.
    // The bound is the write timeout (300 ms) plus a 1 s grace: a failure later than 5 s means it is not applied.
    const stalledAt = performance.now()
    await eventually(() => (consumer.stats().state === ConsumerStates.waitingForDatabase ? true : undefined), 20_000, 'the hung write to time out')
    expect(performance.now() - stalledAt).toBeLessThan(5000)
    expect(committedTotal(consumer)).toBe(300n)
    expect(await countRows(db)).toBe(300)

    await proxy.restore()
    await eventually(async () => ((await countRows(db)) === 1000 ? true : undefined), 30_000, '1000 rows after the network is back')
    await eventually(() => (committedTotal(consumer) === 1000n ? true : undefined), 20_000, 'offsets committed up to 1000 messages')
    await committedToEnd(config)
    expect(await countRows(db)).toBe(1000)
    expect(consumer.stats().state).toBe(ConsumerStates.running)
  }, 90_000)

  test('a partition revoked while a batch of it is still being written is stored but not committed by the old owner', async () => {
    // Large batches: the first member's batch spans every partition, so whichever the rebalance takes away is in it.
    const { db, config, start } = await setUp({ batchMaxRows: 3000, lingerMs: 500 })
    await produce(
      config,
      Array.from({ length: 3000 }, (_, i) => encodeLogRecord(record(i))),
    )
    // The first member writes through a proxy that is cut: its batch stays in flight, retrying.
    const url = new URL(db.url)
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) })
    afterAll(() => proxy.close())
    await proxy.cut()
    url.port = String(proxy.port)
    const first = await startConsumer({ config: { ...config, databaseUrl: url.toString() }, log })
    afterAll(() => first.stop(), 30_000)
    await eventually(
      () => (first.stats().state === ConsumerStates.waitingForDatabase ? true : undefined),
      20_000,
      'the first member to hold a batch it cannot write',
    )

    // The second member joins, which takes partitions from the first, and commits them beyond that batch.
    const second = await start()
    await eventually(() => (second.stats().batches > 0 ? true : undefined), 30_000, 'the second member to store its first batch')
    await produce(
      config,
      Array.from({ length: 1000 }, (_, i) => encodeLogRecord(record(3000 + i))),
    )
    const ends = await endOffsets(config)
    const secondAtEnd = () => {
      const committed = [...second.stats().committed]
      return committed.length > 0 && committed.every(([key, offset]) => offset === ends[Number(key.split(':').pop())])
    }
    await eventually(() => (secondAtEnd() ? true : undefined), 30_000, 'the second member to commit its partitions to the end')

    // The first member's old batch now succeeds; committing it for the partitions it lost would move those back.
    await proxy.restore()
    await eventually(async () => ((await countRows(db)) === 4000 ? true : undefined), 30_000, '4000 rows')
    await eventually(
      () => (first.stats().state === ConsumerStates.running && first.stats().messagesInHand === 0 ? true : undefined),
      20_000,
      'the first member to finish its batches',
    )
    expect(await brokerCommittedTotal(config)).toBe(4000n)
    expect(await countRows(db)).toBe(4000)
  }, 120_000)

  test('large logs are batched by bytes: a batch never holds more than CONSUME_BATCH_MAX_BYTES, except one message alone', async () => {
    const { db, config, start } = await setUp({ batchMaxRows: 5000, batchMaxBytes: 1024 * 1024, lingerMs: 200 })
    // ~600 kB each: two would pass 1 MiB, so every batch holds exactly one.
    const big = Array.from({ length: 12 }, (_, i) => record(i, { message: `large ${i} ${'lorem ipsum '.repeat(50_000)}` }))
    await produce(config, big.map(encodeLogRecord), () => 'one-service')
    const consumer = await start()
    await eventually(async () => ((await countRows(db)) === big.length ? true : undefined), 60_000, `${big.length} large rows`)
    await committedToEnd(config)
    expect(consumer.stats().batches).toBe(big.length)
    expect((await db.sql<{ n: number }[]>`select count(*)::int as n from logs where length(message) > 600000`)[0]!.n).toBe(big.length)
  }, 90_000)

  test('stop() writes and commits the batch in hand before leaving', async () => {
    const { db, config, start } = await setUp({ batchMaxRows: 100_000, lingerMs: 60_000 })
    const consumer = await start()
    await produce(
      config,
      Array.from({ length: 250 }, (_, i) => encodeLogRecord(record(i))),
    )
    // Nothing is written while the batch lingers; wait until the consumer holds all of it.
    await eventually(() => (consumer.stats().messagesInHand === 250 ? true : undefined), 20_000, '250 messages in hand')
    expect(await countRows(db)).toBe(0)
    await consumer.stop()
    expect(await countRows(db)).toBe(250)
    expect([...consumer.stats().committed.values()].reduce((sum, offset) => sum + offset, 0n)).toBe(250n)
  })
})

describe('startConsumer with Kafka down', () => {
  test('when the broker stops it drops what it holds uncommitted, reconnects once the broker is back, and ends with exactly N rows and N committed offsets', async () => {
    // A private broker: stopping the shared one would break every other test running now.
    const broker: BrokerOptions = { dir: mkdtempSync(`${tmpdir()}/logstream-consumer-broker-`), port: freePort(), controllerPort: freePort(), heapMb: 256 }
    afterAll(async () => {
      await stopKafka(broker)
      rmSync(broker.dir, { recursive: true, force: true })
    }, 60_000)
    await startKafka(broker)
    const db = await freshDatabase()
    const shared = await freshTopics({ databaseUrl: db.url })
    const config: Config = {
      ...shared,
      kafka: { ...shared.kafka, brokers: [`127.0.0.1:${broker.port}`] },
      // Batches flush only when full, so what is stored and what is held at any point is known exactly.
      consume: { ...shared.consume, batchMaxRows: 100, lingerMs: 600_000, statsIntervalMs: 60_000, retryMinMs: 50, retryMaxMs: 500 },
    }
    const admin = createAdmin(config.kafka)
    await ensureTopics(admin, [
      { topic: config.kafka.topic, partitions: 3, retentionMs: 3_600_000 },
      { topic: config.kafka.dlqTopic, partitions: 1, retentionMs: 3_600_000 },
    ]).finally(() => admin.close())

    const consumer = await startConsumer({ config, log })
    afterAll(() => consumer.stop(), 60_000)
    await produce(
      config,
      Array.from({ length: 350 }, (_, i) => encodeLogRecord(record(i))),
    )
    await eventually(async () => ((await countRows(db)) === 300 ? true : undefined), 30_000, 'three full batches stored')
    await eventually(
      () => (committedTotal(consumer) === 300n && consumer.stats().messagesInHand === 50 ? true : undefined),
      20_000,
      '300 offsets committed and 50 messages held',
    )

    await stopKafka(broker)
    await eventually(() => (consumer.stats().state === ConsumerStates.reconnecting ? true : undefined), 60_000, 'the consumer to notice the broker is gone')
    expect(committedTotal(consumer)).toBe(300n)
    expect(await countRows(db)).toBe(300)

    await startKafka(broker)
    // The 50 held messages come again from the committed offsets; with these 650 they make seven full batches.
    await produce(
      config,
      Array.from({ length: 650 }, (_, i) => encodeLogRecord(record(350 + i))),
    )
    await eventually(async () => ((await countRows(db)) === 1000 ? true : undefined), 90_000, '1000 rows after the broker is back')
    await eventually(() => (committedTotal(consumer) === 1000n ? true : undefined), 30_000, 'offsets committed up to 1000 messages')
    expect(await brokerCommittedTotal(config)).toBe(1000n)
    expect(await countRows(db)).toBe(1000)
    expect((await db.sql<{ n: number }[]>`select count(distinct message)::int as n from logs`)[0]!.n).toBe(1000)
    expect(consumer.stats().state).toBe(ConsumerStates.running)
  }, 240_000)
})
