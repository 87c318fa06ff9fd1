import { afterAll, describe, expect, test } from 'bun:test'
import { Consumer, ProduceAcks, Producer } from '@platformatic/kafka'
import type { Subprocess } from 'bun'
import { encodeLogRecord } from '../../src/lib/codec.ts'
import type { Config } from '../../src/lib/config.ts'
import type { LogRecord } from '../../src/lib/log-entry.ts'
import { eventually, freshDatabase, freshTopics, type TestDatabase } from '../support/infra.ts'
import { parseExposition, samplesOf, sumOf } from '../support/prometheus-text.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'
import { committedToEnd } from '../support/topic-reader.ts'

/** `bun src/consume.ts` as a real process, with its stdout lines (JSON) collected for the test to wait on. */
interface ConsumeProcess {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  lines: Record<string, unknown>[]
}

const running = new Set<ConsumeProcess>()
afterAll(() => {
  for (const { proc } of running) proc.kill('SIGKILL')
})

function spawnConsumer(db: TestDatabase, config: Config, env: Record<string, string> = {}): ConsumeProcess {
  const proc = Bun.spawn([process.execPath, 'src/consume.ts'], {
    cwd: `${import.meta.dir}/../..`,
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      KAFKA_TOPIC: config.kafka.topic,
      KAFKA_DLQ_TOPIC: config.kafka.dlqTopic,
      KAFKA_CONSUMER_GROUP: config.kafka.consumerGroup,
      CONSUME_BATCH_MAX_ROWS: '500',
      CONSUME_LINGER_MS: '50',
      CONSUME_STATS_INTERVAL_MS: '200',
      CONSUME_RETRY_MIN_MS: '50',
      CONSUME_RETRY_MAX_MS: '500',
      // Two members run at once in some tests: each on a port of its own.
      CONSUME_HTTP_PORT: '0',
      ...env,
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const handle: ConsumeProcess = { proc, lines: [] }
  running.add(handle)
  void (async () => {
    let buffered = ''
    const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader()
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      buffered += read.value
      const parts = buffered.split('\n')
      buffered = parts.pop()!
      for (const line of parts) {
        try {
          handle.lines.push(JSON.parse(line))
        } catch {
          handle.lines.push({ raw: line })
        }
      }
    }
  })()
  void proc.exited.then(() => running.delete(handle))
  return handle
}

const record = (i: number): LogRecord => ({
  timestampMicros: Math.floor(Date.now() / 1000) * 1_000_000 - 120_000_000 + i,
  service: `svc-${i % 7}`,
  level: 'INFO',
  message: `process-level message ${i}`,
  metadata: JSON.stringify({ i }),
  traceId: '',
  spanId: '',
  host: 'test-host',
  tags: ['e2e'],
})

/** Sends `messages` to the test's topic, 1000 at a time, with an idempotent producer as ingest's. */
async function send(config: Config, messages: { key: Buffer; value: Buffer }[]): Promise<void> {
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'consume-e2e',
    bootstrapBrokers: config.kafka.brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
  })
  try {
    for (let i = 0; i < messages.length; i += 1000)
      await producer.send({ messages: messages.slice(i, i + 1000).map((message) => ({ topic: config.kafka.topic, ...message })) })
  } finally {
    await producer.close()
  }
}

const produce = (config: Config, from: number, count: number) =>
  send(
    config,
    Array.from({ length: count }, (_, k) => ({ key: Buffer.from(`svc-${(from + k) % 7}`), value: Buffer.from(encodeLogRecord(record(from + k))) })),
  )

/** Messages with these values as they are, for what no ingest would send (a value that is no LogEntry). */
const produceRaw = (config: Config, values: Buffer[]) =>
  send(
    config,
    values.map((value) => ({ key: Buffer.from('raw'), value })),
  )

const countRows = async (db: TestDatabase) => (await db.sql<{ n: number }[]>`select count(*)::int as n from logs`)[0]!.n
const distinctMessages = async (db: TestDatabase) => (await db.sql<{ n: number }[]>`select count(distinct message)::int as n from logs`)[0]!.n

/** Sum over the topic's partitions of the group's committed offsets (the next offset to read). */
async function committedTotal(config: Config): Promise<bigint> {
  const consumer = new Consumer({ clientId: 'offset-reader', groupId: config.kafka.consumerGroup, bootstrapBrokers: config.kafka.brokers })
  try {
    const committed = await consumer.listCommittedOffsets({ topics: [{ topic: config.kafka.topic, partitions: [0, 1, 2] }] })
    return (committed.get(config.kafka.topic) ?? []).reduce((sum, offset) => sum + (offset > 0n ? offset : 0n), 0n)
  } finally {
    await consumer.close(true)
  }
}

/** Partitions (as "topic:partition") this process has committed, from its consume.stats lines. */
const partitionsCommittedBy = (p: ConsumeProcess) =>
  new Set(p.lines.filter((line) => line.event === 'consume.stats').flatMap((line) => Object.keys((line.committed as Record<string, string> | undefined) ?? {})))

async function setUp() {
  const db = await freshDatabase()
  const config = await freshTopics({ databaseUrl: db.url })
  return { db, config }
}

const waitForRows = (db: TestDatabase, n: number, timeoutMs = 60_000) =>
  eventually(async () => ((await countRows(db)) === n ? true : undefined), timeoutMs, `${n} rows`)

describe('bun src/consume.ts', () => {
  test('SIGKILL mid-stream and a restart leave exactly N rows, each message once', async () => {
    const { db, config } = await setUp()
    const N = 20_000
    await produce(config, 0, N)
    const first = spawnConsumer(db, config, { CONSUME_BATCH_MAX_ROWS: '300' })
    await eventually(async () => ((await countRows(db)) >= 2000 ? true : undefined), 60_000, 'some rows before the kill')
    first.proc.kill('SIGKILL')
    await first.proc.exited
    expect(await countRows(db)).toBeLessThan(N)

    const second = spawnConsumer(db, config)
    await waitForRows(db, N)
    expect(await distinctMessages(db)).toBe(N)
    await eventually(async () => ((await committedTotal(config)) === BigInt(N) ? true : undefined), 30_000, 'all offsets committed')
    await committedToEnd(config)
    expect(await countRows(db)).toBe(N)
    second.proc.kill('SIGTERM')
    expect(await second.proc.exited).toBe(0)
  }, 180_000)

  test('two consumers in the group share the topic and store exactly N rows', async () => {
    const { db, config } = await setUp()
    const N = 10_000
    const a = spawnConsumer(db, config)
    const b = spawnConsumer(db, config)
    const joined = (p: ConsumeProcess) => p.lines.some((line) => line.event === 'kafka.consuming')
    await eventually(() => (joined(a) && joined(b) ? true : undefined), 60_000, 'both consumers in the group')
    await produce(config, 0, N)
    await waitForRows(db, N)
    expect(await distinctMessages(db)).toBe(N)
    await eventually(async () => ((await committedTotal(config)) === BigInt(N) ? true : undefined), 30_000, 'all offsets committed')
    await committedToEnd(config)
    expect(await countRows(db)).toBe(N)
    // Shared: each member committed at least one partition (one member taking every partition would also store N rows).
    await eventually(
      () => (partitionsCommittedBy(a).size > 0 && partitionsCommittedBy(b).size > 0 ? true : undefined),
      10_000,
      'a stats line from each member naming the partitions it committed',
    )
    expect(new Set([...partitionsCommittedBy(a), ...partitionsCommittedBy(b)]).size).toBe(3)
    a.proc.kill('SIGTERM')
    b.proc.kill('SIGTERM')
    expect([await a.proc.exited, await b.proc.exited]).toEqual([0, 0])
  }, 180_000)

  test('SIGTERM writes and commits the batch in hand, then exits 0', async () => {
    const { db, config } = await setUp()
    const N = 400
    const consumer = spawnConsumer(db, config, { CONSUME_BATCH_MAX_ROWS: '100000', CONSUME_LINGER_MS: '60000' })
    await eventually(() => (consumer.lines.some((line) => line.event === 'kafka.consuming') ? true : undefined), 60_000, 'the consumer to join')
    await produce(config, 0, N)
    await eventually(
      () => (consumer.lines.some((line) => line.event === 'consume.stats' && line.inHand === N) ? true : undefined),
      30_000,
      `${N} messages in hand`,
    )
    expect(await countRows(db)).toBe(0)

    consumer.proc.kill('SIGTERM')
    expect(await consumer.proc.exited).toBe(0)
    expect(await countRows(db)).toBe(N)
    expect(await committedTotal(config)).toBe(BigInt(N))
  }, 120_000)

  test('SIGTERM with a batch write hung in flight exits within 10 s and commits nothing of that batch', async () => {
    const { db, config } = await setUp()
    const url = new URL(db.url)
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) })
    afterAll(() => proxy.close())
    url.port = String(proxy.port)
    // One connection, already open, and a write timeout far away: only the shutdown grace can end this write's wait.
    const consumer = spawnConsumer({ ...db, url: url.toString() }, config, { CONSUME_WRITE_TIMEOUT_MS: '600000', DB_POOL_MAX: '1' })
    await produce(config, 0, 10)
    await waitForRows(db, 10)
    await eventually(async () => ((await committedTotal(config)) === 10n ? true : undefined), 30_000, 'the first 10 offsets committed')
    await proxy.stall()
    const N = 400
    await produce(config, 10, N)
    await eventually(
      () => (consumer.lines.some((line) => line.event === 'consume.stats' && line.inHand === N && line.totalRows === 10) ? true : undefined),
      30_000,
      `${N} messages in hand, not stored`,
    )

    const signalledAt = performance.now()
    consumer.proc.kill('SIGTERM')
    expect(await consumer.proc.exited).toBe(0)
    expect(performance.now() - signalledAt).toBeLessThan(10_000)
    expect(await committedTotal(config)).toBe(10n)
  }, 120_000)

  test('serves GET /metrics (rows, lag per partition, batch seconds, dead letters) and GET /health on CONSUME_HTTP_PORT', async () => {
    const { db, config } = await setUp()
    // PostgreSQL behind a proxy the test can cut, to see /health name the database.
    const url = new URL(db.url)
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) })
    afterAll(() => proxy.close())
    url.port = String(proxy.port)
    const consumer = spawnConsumer({ ...db, url: url.toString() }, config)
    const listening = await eventually(
      () => consumer.lines.find((line) => line.event === 'consume.http.listening')?.address as string | undefined,
      60_000,
      'the consumer HTTP listener',
    )
    const base = `http://${listening}`

    const N = 300
    await produce(config, 0, N)
    await produceRaw(config, [Buffer.from('not a LogEntry')])
    await waitForRows(db, N)

    const scrape = async () => {
      const response = await fetch(`${base}/metrics`)
      expect(response.status).toBe(200)
      return parseExposition(await response.text())
    }
    // Counted as the batches commit; the lag once every partition's commit is known to the member; a batch's
    // seconds once its handling has returned, which can come after Kafka already shows its commit.
    const metrics = await eventually(
      async () => {
        const scraped = await scrape()
        const lags = samplesOf(scraped, 'logstream_consumer_lag')
        const settled =
          sumOf(scraped, 'logstream_dead_letters_total', { reason: 'undecodable' }) === 1 &&
          lags.length === 3 &&
          lags.every((lag) => lag.value === 0) &&
          sumOf(scraped, 'logstream_consumer_batch_seconds_count') >= 1
        return settled ? scraped : undefined
      },
      30_000,
      'the dead letter counted, no lag on any of the 3 partitions, a batch timed',
    )
    expect(sumOf(metrics, 'logstream_consumer_rows_total', { result: 'inserted' })).toBe(N)
    expect(sumOf(metrics, 'logstream_consumer_rows_total', { result: 'duplicate' })).toBe(0)
    expect(
      samplesOf(metrics, 'logstream_consumer_lag')
        .map((lag) => lag.labels.partition)
        .sort(),
    ).toEqual(['0', '1', '2'])
    expect(sumOf(metrics, 'logstream_consumer_batch_seconds_bucket', { le: '+Inf' })).toBe(sumOf(metrics, 'logstream_consumer_batch_seconds_count'))
    expect(sumOf(metrics, 'logstream_dead_letters_total', { reason: 'database_refused' })).toBe(0)
    for (const [name, type] of [
      ['logstream_consumer_rows_total', 'counter'],
      ['logstream_consumer_lag', 'gauge'],
      ['logstream_consumer_batch_seconds', 'histogram'],
      ['logstream_dead_letters_total', 'counter'],
      ['logstream_process_resident_memory_bytes', 'gauge'],
    ] as const)
      expect([name, metrics.types.get(name)]).toEqual([name, type])

    const health = await fetch(`${base}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'ok', checks: { kafka: { status: 'up' }, database: { status: 'up' } } })

    await proxy.cut()
    const down = await fetch(`${base}/health`)
    expect(down.status).toBe(503)
    expect(await down.json()).toMatchObject({ status: 'unavailable', checks: { kafka: { status: 'up' }, database: { status: 'down' } } })
    await proxy.restore()
    await eventually(async () => ((await fetch(`${base}/health`)).status === 200 ? true : undefined), 30_000, '/health 200 again once PostgreSQL is back')

    consumer.proc.kill('SIGTERM')
    expect(await consumer.proc.exited).toBe(0)
  }, 120_000)
})
