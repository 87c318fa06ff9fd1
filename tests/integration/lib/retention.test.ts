import { describe, expect, test } from 'bun:test'
import { maintainPartitions, partitionName } from '../../../src/lib/retention.ts'
import { freshDatabase } from '../../support/infra.ts'
import { countMismatches } from '../../support/log-counts.ts'

const DAY = 86_400_000
const partitionsOf = async (sql: Awaited<ReturnType<typeof freshDatabase>>['sql']) =>
  (
    await sql<
      { name: string }[]
    >`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'logs'::regclass order by 1`
  ).map((r) => r.name)

describe('maintainPartitions', () => {
  test('creates one partition per day from the retention window to the days ahead', async () => {
    const { sql } = await freshDatabase({ partitions: false })
    const now = new Date('2026-03-10T15:00:00Z')
    const result = await maintainPartitions(sql, { retentionDays: 3, aheadDays: 2, now })
    expect(result.created).toEqual(['logs_20260308', 'logs_20260309', 'logs_20260310', 'logs_20260311', 'logs_20260312'])
  })

  test('drops an expired partition and keeps a current one', async () => {
    const { sql } = await freshDatabase({ partitions: false })
    const then = new Date('2026-03-01T12:00:00Z')
    await maintainPartitions(sql, { retentionDays: 2, aheadDays: 1, now: then })
    await sql`insert into logs ${sql({ timestamp: then, service: 'a', level: 'INFO', message: 'old', kafka_partition: 0, kafka_offset: 1 })}`

    const later = new Date(then.getTime() + 5 * DAY)
    const result = await maintainPartitions(sql, { retentionDays: 2, aheadDays: 1, now: later })

    expect(result.dropped).toContain('logs_20260301')
    const names = await partitionsOf(sql)
    expect(names).not.toContain('logs_20260301')
    expect(names).toContain(partitionName(later))
    const [count] = await sql`select count(*)::int as n from logs`
    expect(count!.n).toBe(0)
  })

  test('moves rows waiting in the default partition into the partition created for their day', async () => {
    const { sql } = await freshDatabase({ partitions: false })
    const now = new Date('2026-05-20T08:00:00Z')
    await sql`insert into logs ${sql({ timestamp: now, service: 'a', level: 'INFO', message: 'early', kafka_partition: 0, kafka_offset: 1 })}`
    await maintainPartitions(sql, { retentionDays: 1, aheadDays: 1, now })
    const [stored] = await sql`select tableoid::regclass::text as partition from logs`
    expect(stored!.partition).toBe('logs_20260520')
  })

  test('is idempotent when run concurrently', async () => {
    const { sql } = await freshDatabase({ partitions: false })
    const now = new Date('2026-07-01T00:00:00Z')
    const results = await Promise.all([1, 2, 3].map(() => maintainPartitions(sql, { retentionDays: 2, aheadDays: 1, now })))
    const created = results.flatMap((r) => r.created).sort()
    expect(created).toEqual(['logs_20260630', 'logs_20260701', 'logs_20260702'])
  })

  test('deletes default-partition rows older than the retention window', async () => {
    const { sql } = await freshDatabase({ partitions: false })
    await sql`insert into logs ${sql({ timestamp: new Date('2001-01-01T00:00:00Z'), service: 'a', level: 'INFO', message: 'ancient', kafka_partition: 0, kafka_offset: 1 })}`
    const result = await maintainPartitions(sql, { retentionDays: 7, aheadDays: 1, now: new Date('2026-01-01T00:00:00Z') })
    expect(result.purgedDefaultRows).toBe(1)
    expect(await sql`select 1 from logs where message = 'ancient'`).toHaveLength(0)
  })

  test('log_counts keeps exactly the counts of the rows that remain: a dropped day, purged default-partition rows and rows moved out of the default partition', async () => {
    const { sql } = await freshDatabase({ partitions: false })
    const now = new Date('2026-04-10T12:00:00Z')
    await maintainPartitions(sql, { retentionDays: 5, aheadDays: 1, now })
    const at = (daysAgo: number, minutes: number) => new Date(now.getTime() - daysAgo * DAY + minutes * 60_000 + 1234)
    // Two days later: the first two days expire; 20 days ago is in logs_default (purged), 3 days ahead too (moved into its new partition).
    const times = [at(4, 0), at(4, 1), at(3, 0), at(2, 5), at(0, 0), at(0, 0), at(20, 0), at(-3, 7)]
    await sql`
      insert into logs (timestamp, service, level, message, host, kafka_partition, kafka_offset)
      select t, 'a', 'INFO', 'm', case when o % 2 = 0 then 'h' end, 0, o
      from unnest(${times.map((time) => time.toISOString())}::text[]::timestamptz[], ${times.map((_, i) => i)}::bigint[]) as r(t, o)`
    expect(await countMismatches(sql)).toEqual([])
    const result = await maintainPartitions(sql, { retentionDays: 5, aheadDays: 1, now: new Date(now.getTime() + 2 * DAY) })
    expect({ dropped: result.dropped.length, purged: result.purgedDefaultRows }).toEqual({ dropped: 2, purged: 1 })
    const [remaining] = await sql<{ logs: number; counted: number }[]>`
      select (select count(*) from logs)::int as logs, (select sum(n) from log_counts)::int as counted`
    expect(remaining).toEqual({ logs: 4, counted: 4 })
    expect(await countMismatches(sql)).toEqual([])
  })
})
