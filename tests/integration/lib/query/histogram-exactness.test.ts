import { afterAll, describe, expect, test } from 'bun:test'
import { ProduceAcks, Producer } from '@platformatic/kafka'
import { encodeLogRecord } from '../../../../src/lib/codec.ts'
import type { Config } from '../../../../src/lib/config.ts'
import { type LogConsumer, startConsumer } from '../../../../src/lib/consumer/consumer.ts'
import { connect } from '../../../../src/lib/db.ts'
import { Levels } from '../../../../src/lib/levels.ts'
import { createLogger } from '../../../../src/lib/log.ts'
import { formatMicros, type LogRecord } from '../../../../src/lib/log-entry.ts'
import { queryDatabaseUrl } from '../../../../src/lib/log-search.ts'
import { createLogWriter, type LogWriter, type PendingRow } from '../../../../src/lib/log-writer.ts'
import { createQueryApp } from '../../../../src/lib/query-app.ts'
import { maintainPartitions } from '../../../../src/lib/retention.ts'
import { eventually, freshDatabase, freshTopics, type TestDatabase } from '../../../support/infra.ts'
import { countMismatches } from '../../../support/log-counts.ts'
import { committedToEnd } from '../../../support/topic-reader.ts'

/**
 * GET /histogram's `total` (and every bucket's) is a count of the rows stored, so it stays exactly the number
 * of distinct logs when Kafka delivers the whole topic again (a replay: the primary key makes re-delivered
 * rows no-ops) and when a retention pass drops a day. Real Kafka, the real consumer, real PostgreSQL; each
 * scenario has its own database (and topics).
 */
const log = createLogger({ service: 'histogram-exactness-test' }, { level: (process.env.TEST_LOG_LEVEL as 'warn' | undefined) ?? 'error' })

const SECOND = 1_000_000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

interface Bucket {
  start: string
  counts: Record<string, number>
  other: number
  total: number
}
interface HistogramBody {
  step: number
  groups: string[]
  buckets: Bucket[]
  total: number
}

function queryApi(db: TestDatabase) {
  const sql = connect(queryDatabaseUrl(db.url), { max: 4 })
  afterAll(() => sql.end())
  const app = createQueryApp({ sql, log })
  return async (path: string): Promise<{ status: number; body: any }> => {
    const response = await app.handle(new Request(`http://localhost${path}`))
    return { status: response.status, body: await response.json() }
  }
}

/** Every log /query pages through for `filters`, following next_cursor 100 at a time; their ids. */
async function pageThrough(get: ReturnType<typeof queryApi>, filters: string): Promise<string[]> {
  const ids: string[] = []
  let cursor: string | undefined
  for (let page = 0; page < 1000; page++) {
    const { status, body } = await get(`/query?${filters}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    expect(status).toBe(200)
    ids.push(...body.logs.map((row: { id: string }) => row.id))
    if (!body.pagination.has_more) return ids
    cursor = body.pagination.next_cursor
  }
  throw new Error('more than 1000 pages')
}

/** The histogram the sent logs must give: per bucket, counts by level (levels seen, in level order), and the total. */
function expectedHistogram(timestamps: { at: number; level: string }[], from: number, to: number, step: number) {
  const count = Math.ceil((to - from) / step)
  const inRange = timestamps.filter(({ at }) => at >= from && at <= to)
  const groups = Levels.filter((level) => inRange.some((row) => row.level === level))
  const buckets: Bucket[] = Array.from({ length: count }, (_, index) => ({
    start: formatMicros(from + index * step),
    counts: Object.fromEntries(groups.map((group) => [group, 0])),
    other: 0,
    total: 0,
  }))
  for (const { at, level } of inRange) {
    const bucket = buckets[Math.min(Math.floor((at - from) / step), count - 1)]!
    bucket.counts[level]! += 1
    bucket.total += 1
  }
  return { groups, buckets, total: inRange.length }
}

async function produce(config: Config, records: LogRecord[]): Promise<void> {
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'histogram-exactness-test',
    bootstrapBrokers: config.kafka.brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
  })
  try {
    for (let i = 0; i < records.length; i += 200) {
      await producer.send({
        messages: records.slice(i, i + 200).map((record) => ({
          topic: config.kafka.topic,
          key: Buffer.from(record.service),
          value: Buffer.from(encodeLogRecord(record)),
        })),
      })
    }
  } finally {
    await producer.close()
  }
}

describe('GET /histogram after a replay of the topic', () => {
  test('total and every bucket equal the distinct logs sent and what /query pages through, after the whole topic is consumed again by a new group', async () => {
    const db = await freshDatabase()
    const topics = await freshTopics({ databaseUrl: db.url, partitions: 3 })
    const config: Config = {
      ...topics,
      databaseUrl: db.url,
      consume: { ...topics.consume, batchMaxRows: 100, lingerMs: 50, statsIntervalMs: 600_000, retryMinMs: 20, retryMaxMs: 200 },
    }
    const running: LogConsumer[] = []
    afterAll(async () => {
      for (const consumer of running) await consumer.stop()
    }, 30_000)
    const get = queryApi(db)

    // 600 logs over one hour two whole hours ago, every level, five services on three partitions; one log at
    // exactly FROM, one at exactly TO (inclusive: the last bucket), and two just outside the range.
    const FROM = Math.floor(Date.now() / 3_600_000) * HOUR - 2 * HOUR
    const TO = FROM + HOUR
    const levels = ['DEBUG', 'INFO', 'INFO', 'INFO', 'WARN', 'ERROR', 'INFO', 'FATAL', 'TRACE'] as const
    const records: LogRecord[] = Array.from({ length: 600 }, (_, i) => ({
      timestampMicros: i === 0 ? FROM : i === 1 ? TO : i === 2 ? FROM - 1 : i === 3 ? TO + 1 : FROM + ((i * 5_987_123) % HOUR),
      service: `svc-${i % 5}`,
      level: levels[i % levels.length]!,
      message: `request ${i} handled`,
      metadata: JSON.stringify({ i }),
      traceId: '',
      spanId: '',
      host: `host-${i % 4}`,
      tags: i % 2 === 0 ? ['even'] : [],
    }))
    const sent = records.map((record) => ({ at: record.timestampMicros, level: record.level }))
    const range = `from=${formatMicros(FROM)}&to=${formatMicros(TO)}`
    const expected = expectedHistogram(sent, FROM, TO, 5 * MINUTE)
    expect(expected.total).toBe(598)

    await produce(config, records)
    const first = await startConsumer({ config, log })
    running.push(first)
    await committedToEnd(config)
    expect(first.stats().rowsInserted).toBe(600)
    await first.stop()
    const before = (await get(`/histogram?${range}&step=5m`)).body as HistogramBody
    expect(before).toMatchObject(expected)

    // The replay: a group with no committed offsets starts at the beginning of every partition (the
    // consumer's COMMITTED mode falls back to EARLIEST) and delivers all 600 messages again.
    const replay: Config = { ...config, kafka: { ...config.kafka, consumerGroup: `${config.kafka.consumerGroup}-replay` } }
    const again = await startConsumer({ config: replay, log })
    running.push(again)
    await committedToEnd(replay)
    await eventually(() => (again.stats().messagesHandled === 600 ? true : undefined), 10_000, 'the replay to handle all 600 messages')
    expect({ handled: again.stats().messagesHandled, inserted: again.stats().rowsInserted, deadLetters: again.stats().deadLetters }).toEqual({
      handled: 600,
      inserted: 0,
      deadLetters: 0,
    })

    const { status, body } = await get(`/histogram?${range}&step=5m`)
    expect(status).toBe(200)
    const after = body as HistogramBody
    expect(after).toMatchObject({ step: 300, groups: expected.groups, total: 598 })
    expect(after.buckets).toEqual(expected.buckets)
    expect(after.buckets.reduce((sum, bucket) => sum + bucket.total, 0)).toBe(598)
    const paged = await pageThrough(get, range)
    expect(new Set(paged).size).toBe(paged.length)
    expect(paged.length).toBe(after.total)
    // The same with a filter, and over all stored logs (the two just outside the range included).
    for (const filters of ['&level=info', '&service=svc-3', '&tags=even']) {
      const histogram = (await get(`/histogram?${range}&step=5m${filters}`)).body as HistogramBody
      expect({ filters, total: histogram.total }).toEqual({ filters, total: (await pageThrough(get, `${range}${filters}`)).length })
    }
    const wide = `from=${formatMicros(FROM - HOUR)}&to=${formatMicros(TO + HOUR)}`
    expect((await get(`/histogram?${wide}&step=1h`)).body.total).toBe(600)
    expect((await pageThrough(get, wide)).length).toBe(600)
  }, 90_000)
})

describe('GET /histogram after a retention pass', () => {
  test('total over the whole range equals the rows that remain; the buckets of the dropped day and of purged default-partition rows are zero', async () => {
    const db = await freshDatabase({ partitions: false })
    const get = queryApi(db)
    const NOW = Date.now() * 1000
    const TODAY = Math.floor(NOW / DAY) * DAY
    // Partitions for the last 12 days, so a day 9 days ago has one of its own; 25 days ago falls in logs_default.
    await maintainPartitions(db.sql, { retentionDays: 12, aheadDays: 1, now: new Date(NOW / 1000) })
    const rows = [
      ...[1, 5, 9, 13, 23].map((hour) => ({ at: TODAY - 9 * DAY + hour * HOUR, level: 'INFO' })),
      ...[2, 8, 14].map((hour) => ({ at: TODAY - 3 * DAY + hour * HOUR, level: 'ERROR' })),
      { at: TODAY - 3 * DAY + 20 * HOUR, level: 'INFO' },
      ...[1, 2, 3].map((seconds) => ({ at: NOW - seconds * SECOND, level: 'WARN' })),
      { at: TODAY - 25 * DAY + HOUR, level: 'FATAL' },
    ]
    await db.sql`
      insert into logs (timestamp, service, level, message, kafka_partition, kafka_offset)
      select t::timestamptz, 'svc', l, 'something happened', 0, o
      from unnest(${rows.map((row) => formatMicros(row.at))}::text[], ${rows.map((row) => row.level)}::text[], ${rows.map((_, i) => i + 1)}::bigint[]) as r(t, l, o)`
    const partitionOf = async (at: number) =>
      (await db.sql<{ name: string }[]>`select tableoid::regclass::text as name from logs where timestamp = ${formatMicros(at)}::text::timestamptz`)[0]?.name
    const expiredDay = `logs_${new Date((TODAY - 9 * DAY) / 1000).toISOString().slice(0, 10).replaceAll('-', '')}`
    expect(await partitionOf(TODAY - 9 * DAY + HOUR)).toBe(expiredDay)
    expect(await partitionOf(TODAY - 25 * DAY + HOUR)).toBe('logs_default')

    // One bucket per day over the last 31 days: bucket 30 is today, 21 the expired day, 5 the default-partition row.
    const FROM = TODAY - 30 * DAY
    const range = `from=${formatMicros(FROM)}&to=${formatMicros(NOW)}`
    const before = (await get(`/histogram?${range}&step=1d`)).body as HistogramBody
    expect(before).toMatchObject(expectedHistogram(rows, FROM, NOW, DAY))
    expect(before.total).toBe(13)
    expect([before.buckets[5]!.total, before.buckets[21]!.total, before.buckets[27]!.total]).toEqual([1, 5, 4])

    const result = await maintainPartitions(db.sql, { retentionDays: 7, aheadDays: 2, now: new Date(NOW / 1000) })
    expect(result.dropped).toContain(expiredDay)
    expect(result.purgedDefaultRows).toBe(1)

    const remaining = rows.filter((row) => row.at >= TODAY - 6 * DAY)
    const [stored] = await db.sql<{ n: number }[]>`select count(*)::int as n from logs`
    expect(stored!.n).toBe(remaining.length)
    const { status, body } = await get(`/histogram?${range}&step=1d`)
    expect(status).toBe(200)
    const after = body as HistogramBody
    expect(after.total).toBe(7)
    expect(after.total).toBe(stored!.n)
    expect(after.buckets).toEqual(expectedHistogram(remaining, FROM, NOW, DAY).buckets)
    expect(after.buckets[21]!.total).toBe(0)
    expect(after.buckets[5]!.total).toBe(0)
    expect(after.buckets.slice(0, 24).every((bucket) => bucket.total === 0)).toBe(true)
    expect(after.groups).toEqual(['INFO', 'WARN', 'ERROR'])
    expect((await pageThrough(get, range)).length).toBe(after.total)
  }, 30_000)
})

describe('GET /histogram from log_counts: two writers at once, re-delivery, any bucket edges', () => {
  test('the counts equal the stored rows after overlapping batches written concurrently and again, and every histogram equals the one counted from rows', async () => {
    const db = await freshDatabase()
    const get = queryApi(db)
    const pools = [connect(db.url, { max: 2 }), connect(db.url, { max: 2 })]
    afterAll(() => Promise.all(pools.map((pool) => pool.end())))
    const [first, second] = pools.map((pool) => createLogWriter(pool, { announce: true })) as [LogWriter, LogWriter]

    // 30 rounds of 240 rows over three hours, few keys so both writers upsert the same log_counts rows: the
    // first writer takes rows 0-159, the second 80-239 at the same time (80 re-delivered to one or the other),
    // then the first writes all 240 again.
    const FROM = Math.floor(Date.now() / 3_600_000) * HOUR - 4 * HOUR
    const levels = ['INFO', 'WARN', 'ERROR', 'DEBUG'] as const
    const stored: { at: number; service: string; level: string; host: string }[] = []
    for (let round = 0; round < 30; round++) {
      const batch: PendingRow[] = Array.from({ length: 240 }, (_, i) => {
        const n = round * 240 + i
        return {
          partition: round % 3,
          offset: BigInt(n),
          record: {
            timestampMicros: FROM + ((n * 2_718_281_123) % (3 * HOUR)),
            service: `svc-${n % 3}`,
            level: levels[(n >> 1) % levels.length]!,
            message: `request ${n}`,
            metadata: '{}',
            traceId: '',
            spanId: '',
            host: ['a', 'b', ''][n % 3]!,
            tags: [],
          },
        }
      })
      const [one, two] = await Promise.all([first.write(batch.slice(0, 160)), second.write(batch.slice(80))])
      expect({ round, inserted: one.inserted + two.inserted, rejected: one.rejected.length + two.rejected.length }).toEqual({
        round,
        inserted: 240,
        rejected: 0,
      })
      expect((await first.write(batch)).inserted).toBe(0)
      for (const { record } of batch) stored.push({ at: record.timestampMicros, service: record.service, level: record.level, host: record.host })
    }
    expect(await countMismatches(db.sql)).toEqual([])
    const [rows] = await db.sql<{ n: number; counted: number }[]>`select (select count(*) from logs)::int as n, (select sum(n) from log_counts)::int as counted`
    expect(rows).toEqual({ n: 7200, counted: 7200 })

    // Each histogram against the same one counted from rows only: a negated attribute filter that every log
    // passes makes the search one log_counts cannot answer.
    const ODD = 17 * SECOND + 123
    const ranges = [
      [FROM, FROM + 3 * HOUR],
      [FROM + ODD, FROM + 2 * HOUR + 41 * MINUTE + 3 * SECOND + 7],
      [FROM - 2 * MINUTE, FROM + 3 * HOUR - MINUTE],
    ] as const
    const shapes = ['step=1m', 'step=7m', 'step=90s', 'step=45s', 'buckets=13', 'buckets=300']
    const filters = ['', '&service=svc-1', '&level=warn,error', '&host=a', '&service=svc-2&host=b&level=info']
    let compared = 0
    for (const [from, to] of ranges) {
      for (const shape of shapes) {
        for (const group of ['level', 'service', 'host']) {
          for (const filter of filters) {
            const path = `/histogram?from=${formatMicros(from)}&to=${formatMicros(to)}&${shape}&group_by=${group}${filter}`
            const fast = await get(path)
            const raw = await get(`${path}&-attr.never=x`)
            expect({ path, status: fast.status }).toEqual({ path, status: 200 })
            expect({ path, body: fast.body }).toEqual({ path, body: raw.body })
            const matching = stored.filter(
              (row) =>
                row.at >= from &&
                row.at <= to &&
                (!filter.includes('service=') || row.service === /service=([^&]+)/.exec(filter)![1]) &&
                (!filter.includes('host=') || row.host === /host=([^&]+)/.exec(filter)![1]) &&
                (!filter.includes('level=') || /level=([^&]+)/.exec(filter)![1]!.toUpperCase().split(',').includes(row.level)),
            )
            expect({ path, total: fast.body.total }).toEqual({ path, total: matching.length })
            compared++
          }
        }
      }
    }
    expect(compared).toBe(270)
  }, 120_000)
})
