/**
 * Consumer throughput: rows/s from a pre-filled raw topic into PostgreSQL, beside the COPY ceiling measured
 * in the same run on the same rows, the same table and the same indexes (a bench database, dropped after).
 */
import { ProduceAcks, Producer } from '@platformatic/kafka'
import { encodeLogRecord } from '../src/lib/codec.ts'
import { type Config, loadConfig } from '../src/lib/config.ts'
import { startConsumer } from '../src/lib/consumer/consumer.ts'
import { applySchema, connect, ensureDatabase, maintenanceUrl } from '../src/lib/db.ts'
import { createAdmin, ensureTopics } from '../src/lib/kafka.ts'
import { createLogger } from '../src/lib/log.ts'
import { maintainPartitions } from '../src/lib/retention.ts'
import { copyCeiling, sampleRecords } from './copy-ceiling.ts'
import type { Scenario } from './scenario.ts'

/** Longest the consumer is given to store the pre-filled topic. */
const WAIT_LIMIT_MS = 300_000

const scenario: Scenario = {
  name: 'consume',
  async run(context) {
    const rows = context.quick ? 20_000 : 150_000
    const base = loadConfig()
    const id = `${process.pid}_${Date.now().toString(36)}`
    const dbName = `logstream_bench_consume_${id}`
    const dbUrl = base.databaseUrl.replace(/\/[^/]*$/, `/${dbName}`)
    const config: Config = {
      ...base,
      logLevel: 'warn',
      databaseUrl: dbUrl,
      kafka: { ...base.kafka, topic: `bench.consume.${id}`, dlqTopic: `bench.consume.dlq.${id}`, consumerGroup: `bench-consume-${id}` },
      consume: { ...base.consume, statsIntervalMs: 600_000 },
    }
    const admin = createAdmin(config.kafka)
    await ensureTopics(admin, [
      { topic: config.kafka.topic, partitions: config.kafka.partitions, retentionMs: 3_600_000 },
      { topic: config.kafka.dlqTopic, partitions: 1, retentionMs: 3_600_000 },
    ])
    await ensureDatabase(dbUrl)
    const sql = connect(dbUrl, { max: 2 })
    try {
      await applySchema(sql)
      await maintainPartitions(sql, { retentionDays: config.retentionDays, aheadDays: config.partitionsAheadDays })
      const records = sampleRecords(rows, 42)

      // Pre-fill the topic (not timed): the scenario measures the consumer, not the producer.
      const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
        clientId: 'bench-consume',
        bootstrapBrokers: config.kafka.brokers,
        idempotent: true,
        acks: ProduceAcks.ALL,
      })
      const produceChunk = 2000
      let valueBytes = 0
      for (let i = 0; i < rows; i += produceChunk) {
        await producer.send({
          messages: records.slice(i, i + produceChunk).map((record) => {
            const value = Buffer.from(encodeLogRecord(record))
            valueBytes += value.length
            return { topic: config.kafka.topic, key: Buffer.from(record.service), value }
          }),
        })
        context.progress('consume: pre-fill topic', Math.min(i + produceChunk, rows), rows)
      }
      await producer.close()

      // The ceiling: one COPY of the same rows into the same (empty) table and indexes.
      const ceiling = await copyCeiling(
        sql,
        records.map((record, i) => ({ partition: i % config.kafka.partitions, offset: BigInt(i), record })),
      )
      await sql`truncate logs`
      await sql`vacuum analyze logs`

      const log = createLogger({ service: 'bench-consume' }, { level: 'warn' })
      const started = performance.now()
      const consumer = await startConsumer({ config, log })
      let firstRowAt = 0
      // Bounded: a consumer that stalls is reported as such, not waited for forever.
      const deadline = started + WAIT_LIMIT_MS
      while (consumer.stats().rowsInserted < rows && performance.now() < deadline) {
        const { rowsInserted: inserted, messagesInHand } = consumer.stats()
        if ((inserted > 0 || messagesInHand > 0) && firstRowAt === 0) firstRowAt = performance.now()
        context.progress('consume: topic -> logs', inserted, rows)
        await Bun.sleep(100)
      }
      const seconds = (performance.now() - started) / 1000
      const steadySeconds = (performance.now() - (firstRowAt || started)) / 1000
      const stats = consumer.stats()
      const finished = stats.rowsInserted >= rows
      context.progress('consume: topic -> logs', stats.rowsInserted, rows)
      await consumer.stop()
      const [stored] = await sql<{ n: number }[]>`select count(*)::int as n from logs`

      // A rate is only a rate when every row was stored; a stalled run reports what it stored and no rate.
      const consumerRate = finished ? rows / seconds : Number.NaN
      const ratio = consumerRate / ceiling.rowsPerSecond
      const rate = (value: number) =>
        Number.isNaN(value) ? `not measured: ${fmt(stats.rowsInserted)} of ${fmt(rows)} rows after ${WAIT_LIMIT_MS / 1000} s` : fmt(value)
      const percent = (value: number) => (Number.isNaN(value) ? '–' : `${(value * 100).toFixed(0)} %`)
      const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
      const markdown = [
        `${fmt(rows)} realistic log records (${fmt(valueBytes / rows)} B protobuf each on average, ${config.kafka.partitions} partitions keyed by service) pre-filled in a fresh topic; one consumer process (in-process, group join included) writes them into a fresh database with every index of schema.sql.`,
        '',
        '| Path | Rows | Seconds | Rows/s | vs ceiling |',
        '|---|---:|---:|---:|---:|',
        `| COPY ceiling (postgres.js COPY text, one transaction, same rows/table/indexes) | ${fmt(ceiling.rows)} | ${ceiling.seconds.toFixed(2)} | ${fmt(ceiling.rowsPerSecond)} | 100 % |`,
        `| Consumer: Kafka -> decode -> COPY, or INSERT … ON CONFLICT DO NOTHING for a batch holding stored rows (${config.consume.maxInFlightBatches} batches in flight) -> commit | ${fmt(rows)} | ${seconds.toFixed(2)} | ${rate(consumerRate)} | **${percent(ratio)}** |`,
        `| Consumer, from its first fetched message (excludes group join) | ${fmt(rows)} | ${steadySeconds.toFixed(2)} | ${rate(finished ? rows / steadySeconds : Number.NaN)} | ${percent(finished ? rows / steadySeconds / ceiling.rowsPerSecond : Number.NaN)} |`,
        '',
        `Target: consumer ≥ 70 % of the ceiling. Rows stored: ${fmt(stored!.n)} (expected ${fmt(rows)}); batches: ${fmt(stats.batches)}; dead letters: ${stats.deadLetters}. Settings: CONSUME_BATCH_MAX_ROWS=${config.consume.batchMaxRows}, CONSUME_BATCH_MAX_BYTES=${config.consume.batchMaxBytes}, CONSUME_LINGER_MS=${config.consume.lingerMs}, CONSUME_MAX_IN_FLIGHT_BATCHES=${config.consume.maxInFlightBatches}, DB_POOL_MAX=${config.dbPoolMax}.`,
      ].join('\n')
      return {
        title: 'Consumer: Kafka to PostgreSQL',
        markdown,
        metrics: {
          consumerRowsPerSecond: Math.round(consumerRate),
          copyCeilingRowsPerSecond: Math.round(ceiling.rowsPerSecond),
          ratioToCeiling: Number(ratio.toFixed(3)),
          rows,
        },
      }
    } finally {
      await sql.end({ timeout: 5 })
      const adminSql = connect(maintenanceUrl(base.databaseUrl), { max: 1 })
      await adminSql`drop database if exists ${adminSql(dbName)} with (force)`
      await adminSql.end()
      await admin.deleteTopics({ topics: [config.kafka.topic, config.kafka.dlqTopic] }).catch(() => {})
      await admin.close()
    }
  },
}

export default scenario
