import { describe, expect, test } from 'bun:test'
import type { LogRecord } from '../../../../src/lib/log-entry.ts'
import { createLogWriter, type PendingRow } from '../../../../src/lib/log-writer.ts'
import { announcements, parseAnnouncement, type StoredKey } from '../../../../src/lib/tail/announcement.ts'
import { createTailStore, ranges, readStatement } from '../../../../src/lib/tail/tail-store.ts'
import { freshDatabase } from '../../../support/infra.ts'

/** Reading what was announced: exactly those rows, through the primary key, whatever the table holds. */
const db = await freshDatabase()
const NOW = Date.now() * 1000
const writer = createLogWriter(db.sql, { announce: false })

const record = (micros: number, message = 'stored'): LogRecord => ({
  timestampMicros: micros,
  service: 'api',
  level: 'INFO',
  message,
  metadata: '{}',
  traceId: '',
  spanId: '',
  host: '',
  tags: [],
})

// 100k rows over the last 100 s in three partitions: what a busy day partition looks like to the planner.
for (let batch = 0; batch < 20; batch++) {
  const rows: PendingRow[] = Array.from({ length: 5000 }, (_, i) => {
    const n = batch * 5000 + i
    return { partition: n % 3, offset: BigInt(Math.floor(n / 3)), record: record(NOW - 100_000_000 + n * 1000) }
  })
  await writer.write(rows)
}
await db.sql`analyze logs`

const keysOf = (rows: readonly PendingRow[]): StoredKey[] =>
  rows.map((row) => ({ partition: row.partition, offset: row.offset, micros: row.record.timestampMicros }))

describe('createTailStore', () => {
  test('reads exactly the announced rows, oldest first, with their content, large ones included', async () => {
    const large = 'x'.repeat(64 * 1024)
    const fresh: PendingRow[] = [
      { partition: 0, offset: 900_000n, record: record(NOW + 2000, 'second') },
      { partition: 1, offset: 900_000n, record: record(NOW + 1000, 'first') },
      { partition: 0, offset: 900_001n, record: record(NOW + 3000, large) },
      { partition: 2, offset: 900_000n, record: record(NOW + 1_000_000_000, 'much later') },
    ]
    await writer.write(fresh)
    const pages = []
    for await (const page of createTailStore(db.sql).read(announcements(keysOf(fresh)).map((payload) => parseAnnouncement(payload)!))) pages.push(...page)
    expect(pages.map((row) => row.message.slice(0, 10))).toEqual(['first', 'second', 'x'.repeat(10), 'much later'])
  })

  test('a read goes through the primary key of the day partition its span falls in, never a sequential scan', async () => {
    const keys = Array.from({ length: 3000 }, (_, n) => ({
      partition: n % 3,
      offset: BigInt(Math.floor(n / 3) + 20_000),
      micros: NOW - 100_000_000 + (60_000 + n) * 1000,
    }))
    const group = ranges(announcements(keys).map((payload) => parseAnnouncement(payload)!))
    const lines = (await db.sql<{ 'QUERY PLAN': string }[]>`explain (analyze, costs off) ${readStatement(db.sql, group)}`).map((row) => row['QUERY PLAN'])
    // Every day partition is in the plan, but the one scan that runs is the primary key of the right day.
    const executed = lines.filter((line) => /Scan .*on logs_/.test(line) && !line.includes('never executed'))
    expect(
      executed.map((line) =>
        line
          .trim()
          .replace(/ \(actual.*$/, '')
          .replace(/ logs_\d+$/, '')
          .replace(/logs_\d{8}/g, 'logs_<day>'),
      ),
    ).toEqual(['->  Index Scan using logs_<day>_pkey on logs_<day>'])
    expect(lines.join('\n')).not.toContain('Hash Join')
  })

  test('asks PostgreSQL about q for given keys through the primary key too', async () => {
    const store = createTailStore(db.sql)
    const rows = await db.sql<{ timestamp: string; kafka_partition: number; kafka_offset: bigint }[]>`
      select to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as timestamp, kafka_partition, kafka_offset from logs where message = 'stored' limit 3`
    const keys = rows.map((row) => ({ timestamp: row.timestamp, partition: row.kafka_partition, offset: row.kafka_offset }))
    expect(await store.matchQueries(keys, ["'stored'", "'other'"])).toEqual([[0], [0], [0]])
  })
})
