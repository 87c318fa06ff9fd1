import { describe, expect, test } from 'bun:test'
import { applySchema } from '../../../src/lib/db.ts'
import { freshDatabase } from '../../support/infra.ts'
import { countMismatches } from '../../support/log-counts.ts'

const row = (timestamp: string, offset: number) => ({
  timestamp,
  service: 'api',
  level: 'INFO',
  message: 'hello',
  kafka_partition: 0,
  kafka_offset: offset,
})

describe('schema.sql', () => {
  test('applies twice without error and without changing the table', async () => {
    const { sql } = await freshDatabase()
    const before = await sql`select count(*)::int as n from pg_indexes where tablename = 'logs'`
    await applySchema(sql)
    await applySchema(sql)
    const after = await sql`select count(*)::int as n from pg_indexes where tablename = 'logs'`
    expect(after[0]!.n).toBe(before[0]!.n)
  })

  test('a row with an out-of-range timestamp is stored in the default partition', async () => {
    const { sql } = await freshDatabase()
    await sql`insert into logs ${sql(row('2199-01-01T00:00:00Z', 1))}`
    const [stored] = await sql`select tableoid::regclass::text as partition from logs where kafka_offset = 1`
    expect(stored!.partition).toBe('logs_default')
  })

  test('a row for today is stored in its daily partition', async () => {
    const { sql } = await freshDatabase()
    const now = new Date()
    await sql`insert into logs ${sql(row(now.toISOString(), 2))}`
    const [stored] = await sql`select tableoid::regclass::text as partition from logs where kafka_offset = 2`
    expect(stored!.partition).toBe(`logs_${now.toISOString().slice(0, 10).replaceAll('-', '')}`)
  })

  test('inserting the same Kafka message twice stores it once', async () => {
    const { sql } = await freshDatabase()
    const message = row('2024-11-06T12:00:00.123456Z', 3)
    await sql`insert into logs ${sql(message)} on conflict do nothing`
    await sql`insert into logs ${sql(message)} on conflict do nothing`
    const [count] = await sql`select count(*)::int as n from logs`
    expect(count!.n).toBe(1)
  })

  test('two messages with the same content key and timestamp store one row; rows without a key never conflict', async () => {
    const { sql } = await freshDatabase()
    const keyed = (offset: number, key: string | null) => ({ ...row('2026-01-01T00:00:00.000001Z', offset), content_key: key })
    await sql`insert into logs ${sql([keyed(1, '42'), keyed(2, '42'), keyed(3, null), keyed(4, null)])} on conflict do nothing`
    await sql`insert into logs ${sql(keyed(5, '42'))} on conflict do nothing`
    expect((await sql`select kafka_offset::int as o from logs order by 1`).map((r) => r.o)).toEqual([1, 3, 4])
  })

  test('a database from before content_key gains the column and its unique index, rows kept', async () => {
    const { sql } = await freshDatabase()
    await sql`drop index logs_content_key_idx`
    await sql`alter table logs drop column content_key`
    await sql`insert into logs ${sql(row(new Date().toISOString(), 1))}`
    await applySchema(sql)
    expect((await sql`select content_key from logs`).map((r) => r.content_key)).toEqual([null])
    const [index] = await sql`select indexdef from pg_indexes where indexname = 'logs_content_key_idx'`
    expect(index!.indexdef).toContain(
      'UNIQUE INDEX logs_content_key_idx ON ONLY public.logs USING btree ("timestamp", content_key) WHERE (content_key IS NOT NULL)',
    )
  })

  test('stores a 32-hex W3C trace id', async () => {
    const { sql } = await freshDatabase()
    await sql`insert into logs ${sql({ ...row(new Date().toISOString(), 4), trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' })}`
    const [stored] = await sql`select trace_id from logs`
    expect(stored!.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
  })

  test("daily partitions' GIN indexes inherit the larger pending list that speeds bulk inserts", async () => {
    const { sql } = await freshDatabase()
    const today = `logs_${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`
    const rows = await sql<{ options: string[] }[]>`
      select c.reloptions as options from pg_index i
      join pg_class c on c.oid = i.indexrelid
      join pg_am a on a.oid = c.relam
      where i.indrelid = ${today}::regclass and a.amname = 'gin'`
    // tags, message full text and metadata (attribute filters): three GIN indexes.
    expect(rows.map((row) => row.options)).toEqual([['gin_pending_list_limit=16384'], ['gin_pending_list_limit=16384'], ['gin_pending_list_limit=16384']])
  })

  test('rejects a level outside the canonical set', async () => {
    const { sql } = await freshDatabase()
    await expect(sql`insert into logs ${sql({ ...row(new Date().toISOString(), 5), level: 'LOUD' })}`).rejects.toThrow(/logs_level_check/)
  })

  test('log_counts is built from the rows already stored when logs has no counting trigger: a database from before it, or logs created again', async () => {
    const { sql } = await freshDatabase()
    // As before log_counts existed: rows stored with no trigger to count them.
    await sql`drop table log_counts`
    for (const op of ['insert', 'update', 'delete', 'truncate']) await sql.unsafe(`drop trigger logs_counted_${op} on logs`)
    await sql`insert into logs ${sql([row('2026-01-01T00:00:01Z', 1), row('2026-01-01T00:00:59Z', 2), row(new Date().toISOString(), 3)])}`
    await applySchema(sql)
    expect([...(await sql`select minute::text, n::int from log_counts where minute < '2026-02-01' order by 1`)]).toEqual([
      { minute: '2026-01-01 00:00:00+00', n: 2 },
    ])
    expect(await countMismatches(sql)).toEqual([])
    // logs dropped and created again leaves log_counts behind, counting rows that are gone.
    await sql`drop table logs cascade`
    await applySchema(sql)
    expect((await sql`select * from log_counts`).length).toBe(0)
    await sql`insert into logs ${sql(row('2199-01-01T00:00:00Z', 4))}`
    await sql`update logs set service = 'web'`
    expect([...(await sql`select service, n::int from log_counts where n <> 0`)]).toEqual([{ service: 'web', n: 1 }])
    await sql`delete from logs`
    expect(await countMismatches(sql)).toEqual([])
  })
})
