import { describe, expect, test } from 'bun:test'
import { maintainPartitions, partitionName } from '../../../src/lib/retention.ts'
import { freshDatabase } from '../../support/infra.ts'

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
})
