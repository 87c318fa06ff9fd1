import { describe, expect, test } from 'bun:test'
import { autovacuumEnabled, maintainHotPartition } from '../../../src/lib/hot-partition.ts'
import { partitionName } from '../../../src/lib/retention.ts'
import { eventually, freshDatabase } from '../../support/infra.ts'

const db = await freshDatabase()
const today = partitionName(new Date())
// The server's autovacuum must not analyze the partition between the test's steps.
await db.sql.unsafe(`alter table "${today}" set (autovacuum_enabled = false)`)

async function insertRows(count: number, offset: number): Promise<void> {
  await db.sql`
    insert into logs (timestamp, service, level, message, metadata, tags, kafka_partition, kafka_offset)
    select now() - (i || ' ms')::interval, 'svc', 'INFO', 'word' || (i % 97), '{}'::jsonb, array['t' || (i % 5)], 0, ${offset} + i
    from generate_series(1, ${count}) as i`
}

const lastAnalyze = async () =>
  (await db.sql<{ at: Date | null }[]>`select last_analyze as at from pg_stat_user_tables where relname = ${today}`)[0]?.at ?? null

/** Rows the GIN indexes of today's partition still hold in their pending lists (from pgstatginindex). */
async function pendingTuples(): Promise<number> {
  await db.sql`create extension if not exists pgstattuple`
  const rows = await db.sql<{ pending: number }[]>`
    select coalesce(sum((pgstatginindex(i.oid)).pending_tuples), 0)::int as pending
    from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid join pg_am a on a.oid = i.relam
    where t.relname = ${today} and a.amname = 'gin'`
  return rows[0]!.pending
}

describe('maintainHotPartition', () => {
  test("analyzes today's partition once enough rows changed, not before", async () => {
    await insertRows(500, 0)
    // pg_stat counters reach pg_stat_user_tables when the inserting backend reports them: wait for them.
    await eventually(
      async () => {
        await db.sql`select pg_stat_clear_snapshot()`
        const [row] = await db.sql<{ changed: number }[]>`select n_mod_since_analyze::int as changed from pg_stat_user_tables where relname = ${today}`
        return (row?.changed ?? 0) >= 500 ? true : undefined
      },
      10_000,
      'the inserted rows in pg_stat_user_tables',
    )
    const before = await lastAnalyze()
    expect((await maintainHotPartition(db.sql, { analyzeAfterRows: 1000 }))?.analyzed).toBe(false)
    expect(await lastAnalyze()).toEqual(before)
    const result = await maintainHotPartition(db.sql, { analyzeAfterRows: 400 })
    expect(result).toMatchObject({ partition: today, analyzed: true })
    await db.sql`select pg_stat_clear_snapshot()`
    expect(await lastAnalyze()).not.toBeNull()
  })

  test("merges the GIN pending lists of today's partition", async () => {
    await insertRows(2000, 10_000)
    expect(await pendingTuples()).toBeGreaterThan(0)
    const result = await maintainHotPartition(db.sql, { analyzeAfterRows: Number.MAX_SAFE_INTEGER })
    expect(Object.keys(result!.cleaned).length).toBeGreaterThanOrEqual(2)
    expect(Object.values(result!.cleaned).some((pages) => pages > 0)).toBe(true)
    expect(await pendingTuples()).toBe(0)
  })

  test('reports whether the server runs autovacuum', async () => {
    const [setting] = await db.sql<{ setting: string }[]>`select setting from pg_settings where name = 'autovacuum'`
    expect(await autovacuumEnabled(db.sql)).toBe(setting!.setting === 'on')
  })
})
